// What readers see at `path`, and the one rename that changes it. A reader that resolves the
// path gets either the whole old tree or the whole new one, never a mix.

import { lstat, mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Log } from '../shared/log.js';
import { isObjectId } from '../shared/object-id.js';
import { linkTarget, type Layout } from '../shared/layout.js';
import { displayUrl } from '../shared/redact.js';
import { recordedCommitAt } from '../shared/tree-record.js';
import type { EntryGit } from './entry-git.js';
import { exchange, ExchangeError, isUnsupported } from './rename-exchange.js';
import { isCloneOf } from './repo-config.js';

export type PublishedState =
  | { kind: 'absent' }
  /** Our relative symlink; `healthy` when the tree it names exists. */
  | { kind: 'ours'; commit: string; healthy: boolean }
  | { kind: 'empty-dir' }
  /** A non-empty directory: maybe a clone made by the original tool, checked by the caller. */
  | { kind: 'directory' }
  | { kind: 'foreign'; what: string };

export async function readPublished(layout: Layout): Promise<PublishedState> {
  let info;
  try {
    info = await lstat(layout.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw localError(`cannot inspect ${layout.path}`, err);
  }
  if (info.isSymbolicLink()) {
    const target = await readlink(layout.path);
    const commit = basename(target);
    if (target === linkTarget(layout, commit) && isObjectId(commit)) {
      const healthy = await stat(join(layout.worktreesDir, commit)).then((s) => s.isDirectory(), () => false);
      return { kind: 'ours', commit, healthy };
    }
    return { kind: 'foreign', what: `a symlink to ${target} that git-autosync did not make` };
  }
  if (info.isDirectory()) {
    const names = await readdir(layout.path);
    return names.length === 0 ? { kind: 'empty-dir' } : { kind: 'directory' };
  }
  return { kind: 'foreign', what: 'a file that git-autosync did not make' };
}

/**
 * Refuse to publish over anything we did not make. Taken over (moved aside by the swap, removed
 * after staleAfter): the original tool's clone of this repo, and a tree an exchange-mode entry
 * published at this path (the mode was switched).
 */
export async function refuseForeign(published: PublishedState, layout: Layout, entry: ResolvedEntry, git: EntryGit, log: Log): Promise<void> {
  const p = layout.path;
  if (published.kind === 'foreign') {
    throw new SyncError('local-state', `${p} is ${published.what}; git-autosync will not replace it. Move it away or choose another path`);
  }
  if (published.kind === 'directory') {
    if ((await recordedCommitAt(layout, p)) !== null) {
      log.info('taking over a tree published by "publish": "exchange"', { path: p });
      return;
    }
    if (!(await isCloneOf(git.runner(p), entry.repo, git.opts()))) {
      throw new SyncError(
        'local-state',
        `${p} is a non-empty directory that is not a clone of ${displayUrl(entry.repo)}; git-autosync will not delete or overwrite it. Move it away or choose another path`,
      );
    }
    log.info('taking over an existing clone', { path: p });
  }
}

/**
 * Point `path` at the tree of `commit` with one rename of a fresh symlink over the old one.
 * Where `path` is a directory (an empty one, or a clone being taken over), the link and the
 * directory trade places in one renameat2(RENAME_EXCHANGE), and the directory then goes aside;
 * the caller removes what `movedAside` names once readers are done with it. `gap` says when the
 * filesystem cannot exchange and two renames left `path` missing for an instant.
 */
export async function swapLink(layout: Layout, commit: string, current: PublishedState): Promise<{ movedAside: string | null; gap: boolean }> {
  const tmpLink = join(layout.parent, `.${basename(layout.path)}.link-${process.pid}-${Date.now()}`);
  await rm(tmpLink, { force: true });
  try {
    await symlink(linkTarget(layout, commit), tmpLink);
  } catch (err) {
    throw localError(`cannot create a symlink beside ${layout.path}`, err);
  }
  let movedAside: string | null = null;
  let gap = false;
  try {
    if (current.kind === 'empty-dir' || current.kind === 'directory') {
      await mkdir(layout.asideDir, { recursive: true });
      movedAside = join(layout.asideDir, `previous-${Date.now()}`);
      if (exchangeOrRefuse(tmpLink, layout.path)) {
        // `path` is our link now and tmpLink names the old directory: no reader saw a gap.
        await rename(tmpLink, movedAside);
        return { movedAside, gap };
      }
      // This filesystem cannot exchange, and rename() cannot replace a directory with a symlink:
      // move it aside first. Readers see no path for the instant between the two renames
      // (an 11 ms gap under strace), never a partial tree.
      gap = true;
      try {
        await rename(layout.path, movedAside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EBUSY') throw mountPointError(layout.path);
        throw err;
      }
    }
    await rename(tmpLink, layout.path);
  } catch (err) {
    await rm(tmpLink, { force: true });
    if (err instanceof SyncError) throw err;
    throw localError(`cannot publish at ${layout.path}`, err);
  }
  return { movedAside, gap };
}

/** true when the two traded places; false when the filesystem cannot exchange (fall back). */
function exchangeOrRefuse(link: string, path: string): boolean {
  try {
    exchange(link, path);
    return true;
  } catch (err) {
    if (isUnsupported(err)) return false;
    if (err instanceof ExchangeError && err.code === 'EBUSY') throw mountPointError(path);
    // Not a mount point (an EXDEV for one is EBUSY's twin): the rename itself was refused, and
    // the two-rename fallback would be refused the same way.
    if (err instanceof ExchangeError && err.code === 'EXDEV') throw unmovableDirectoryError(path);
    throw err;
  }
}

/**
 * On overlayfs (a container's root filesystem), a directory that comes from a lower layer, one
 * built into the image, cannot be renamed: rename(2) and renameat2 both fail with EXDEV although
 * it is on the same filesystem as its parent (redirect_dir is off by default). Nothing was changed.
 */
export function unmovableDirectoryError(path: string): SyncError {
  return new SyncError(
    'config',
    `${path} cannot be moved on its filesystem (EXDEV: on overlayfs, a directory from a lower layer, such as one built into the image, cannot be renamed); nothing was changed at ${path}. Remove it or copy its content onto a volume, so that git-autosync creates it; or set "publish": "in-place"`,
  );
}

function mountPointError(path: string): SyncError {
  return new SyncError('local-state', `${path} is a mount point and cannot be replaced by a symlink; mount its parent instead, or set "publish": "in-place"`);
}

export function localError(what: string, err: unknown): SyncError {
  const e = err as NodeJS.ErrnoException;
  return new SyncError('local-state', `${what}: ${e.code ?? ''} ${e.message ?? String(err)}`.trim(), { cause: err });
}
