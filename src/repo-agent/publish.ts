// What readers see at `path`, and the one rename that changes it. A reader that resolves the
// path gets either the whole old tree or the whole new one, never a mix.

import { lstat, mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import { isObjectId } from '../shared/object-id.js';
import { linkTarget, type Layout } from '../shared/layout.js';

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
 * Point `path` at the tree of `commit` with one rename of a fresh symlink over the old one.
 * Where `path` is a directory (an empty one, or a clone being taken over), it is first moved
 * aside; the caller removes what `movedAside` names once readers are done with it.
 */
export async function swapLink(layout: Layout, commit: string, current: PublishedState): Promise<{ movedAside: string | null }> {
  const tmpLink = join(layout.parent, `.${basename(layout.path)}.link-${process.pid}-${Date.now()}`);
  await rm(tmpLink, { force: true });
  try {
    await symlink(linkTarget(layout, commit), tmpLink);
  } catch (err) {
    throw localError(`cannot create a symlink beside ${layout.path}`, err);
  }
  let movedAside: string | null = null;
  try {
    if (current.kind === 'empty-dir' || current.kind === 'directory') {
      // rename() cannot replace a directory with a symlink. Move it aside first: readers see
      // no path for the instant between the two renames, never a partial tree.
      await mkdir(layout.asideDir, { recursive: true });
      movedAside = join(layout.asideDir, `previous-${Date.now()}`);
      try {
        await rename(layout.path, movedAside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EBUSY') {
          throw new SyncError('local-state', `${layout.path} is a mount point and cannot be replaced by a symlink; mount its parent instead, or set "publish": "in-place"`);
        }
        throw err;
      }
    }
    await rename(tmpLink, layout.path);
  } catch (err) {
    await rm(tmpLink, { force: true });
    if (err instanceof SyncError) throw err;
    throw localError(`cannot publish at ${layout.path}`, err);
  }
  return { movedAside };
}

export function localError(what: string, err: unknown): SyncError {
  const e = err as NodeJS.ErrnoException;
  return new SyncError('local-state', `${what}: ${e.code ?? ''} ${e.message ?? String(err)}`.trim(), { cause: err });
}
