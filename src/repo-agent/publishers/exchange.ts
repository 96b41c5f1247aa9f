// The exchange publisher: `path` is a real directory, never a symlink. Each commit's tree is
// checked out beside it (the state folder, on the same filesystem), stripped of git's files, and
// traded with `path` in one renameat2(RENAME_EXCHANGE): a reader resolving `path` finds the old
// tree or the new one, never a mix and never nothing. The tree it replaced keeps its inode, so a
// reader holding it open (its cwd, an open file) keeps reading it until it is retired after
// staleAfter, as in symlink mode.

import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncError } from '../../shared/errors.js';
import type { ResolvedEntry } from '../../shared/listing-schema.js';
import { worktreeDir, type Layout } from '../../shared/layout.js';
import type { Log } from '../../shared/log.js';
import {
  commitOf,
  entryIdentity,
  identityOf,
  readTreeRecord,
  sameIdentity,
  writeTreeRecord,
  type TreeIdentity,
  type TreeRecord,
} from '../../shared/tree-record.js';
import type { Checkouts } from '../checkout.js';
import type { EntryGit } from '../entry-git.js';
import { localError, readPublished, refuseForeign, unmovableDirectoryError, type PublishedState } from '../publish.js';
import { exchange, ExchangeError, isUnsupported } from '../rename-exchange.js';
import type { Retirement } from '../retire.js';
import type { Repository } from '../repositories/repository.js';
import { TreesBesidePath } from './beside.js';
import type { Published, Publisher } from './publisher.js';

/** Trades two paths atomically; rename-exchange.ts's exchange(), or a test's stand-in for a filesystem that refuses. */
export type Swap = (a: string, b: string) => void;

/** What `path` held when current() last looked: one of our trees, or what publish.ts tells apart. */
type AtPath = { kind: 'tree'; commit: string } | PublishedState;

// Scratch folders for the start-up check that this filesystem can exchange (in the state folder).
const PROBE = ['.exchange-probe-a', '.exchange-probe-b'];

export class ExchangePublisher extends TreesBesidePath implements Publisher {
  /** The commit whose tree is at `path`; null when none of ours is. */
  private atPath: string | null = null;
  private seen: AtPath = { kind: 'absent' };
  /** What was at `path` (by identity) when current() looked: the swap must take out exactly that. */
  private seenIdentity: TreeIdentity | null = null;
  /** The tree record as last read or written (tree-record.ts); this agent is its only writer. */
  private record: TreeRecord = new Map();

  constructor(
    private readonly entry: ResolvedEntry,
    layout: Layout,
    private readonly log: Log,
    private readonly git: EntryGit,
    private readonly repository: Repository,
    private readonly checkouts: Checkouts,
    retirement: Retirement,
    private readonly swap: Swap = exchange,
  ) {
    super(layout, retirement);
  }

  /**
   * Only a directory whose identity the record names is taken as published: the record is
   * written before every swap (publish()), so whichever side of the swap a kill -9 fell on,
   * `path`'s tree is in it. A tree left under another commit's name (killed between the swap and
   * the rename after it) is renamed back; trees the record does not name are not whole.
   */
  async adopt(): Promise<string | null> {
    await this.probe();
    this.record = await readTreeRecord(this.layout);
    await this.settle();
    const atPath = commitOf(this.record, await identityOf(this.layout.path));
    // Forget trees that are gone (removed, or deleted by hand).
    const live: TreeRecord = new Map();
    for (const [commit, id] of this.record) {
      if (commit === atPath || sameIdentity(await identityOf(worktreeDir(this.layout, commit)), id)) live.set(commit, id);
    }
    if (live.size !== this.record.size) await this.writeRecord(live);
    this.atPath = atPath;
    await this.retirement.adoptLeftovers(atPath, (c) => this.isWhole(c));
    return atPath;
  }

  async current(): Promise<Published> {
    const id = await entryIdentity(this.layout.path);
    this.seenIdentity = id;
    const commit = id?.directory === true ? commitOf(this.record, id) : null;
    if (commit !== null) {
      this.seen = { kind: 'tree', commit };
      this.atPath = commit;
      return { commit, whole: true };
    }
    const published = await readPublished(this.layout);
    // A symlink of ours: the entry was in symlink mode. It is exchanged out like a taken-over clone.
    if (published.kind !== 'ours') await refuseForeign(published, this.layout, this.entry, this.git, this.log);
    this.seen = published;
    this.atPath = null;
    return { commit: null, whole: false };
  }

  treeOf(commit: string): string {
    return commit === this.atPath ? this.layout.path : worktreeDir(this.layout, commit);
  }

  async stage(commit: string, env: Record<string, string>): Promise<string> {
    await this.settle();
    const tree = worktreeDir(this.layout, commit);
    this.retirement.cancelRetirement(commit);
    // A whole tree of this commit may be on disk already: a kept one, or one staged by a sync
    // that did not get to publish it.
    if (await this.isWhole(commit)) return tree;
    await this.checkouts.create(this.repository.runner(), tree, commit, env);
    return tree;
  }

  async publish(commit: string, tree: string, before: Published): Promise<void> {
    await this.stripGit(tree);
    const id = await identityOf(tree);
    if (id === null) throw new SyncError('local-state', `${tree} is not a folder any more; the tree of ${commit.slice(0, 12)} will be checked out again`);
    // Before the swap: whichever side of it a kill -9 lands on, the tree at `path` is recorded.
    await this.writeRecord(new Map(this.record).set(commit, id));
    const p = this.layout.path;
    const seen = this.seen;
    if (seen.kind === 'absent') {
      // Nothing to exchange with: one rename makes `path` appear whole. (rename() replaces an
      // empty directory made meanwhile, and refuses anything else.)
      await rename(tree, p).catch((err: unknown) => {
        throw localError(`cannot publish at ${p}`, err);
      });
    } else {
      this.exchangeOrRefuse(tree, p);
      // `tree` now names what `path` held: exactly what current() saw, or someone changed it
      // meanwhile; then it goes back where it was, untouched, and the sync is retried.
      const out = await entryIdentity(tree);
      if (!sameIdentity(out, this.seenIdentity)) {
        this.exchangeOrRefuse(tree, p);
        throw new SyncError('local-state', `${p} was replaced while a tree was being published; it was put back untouched and the publish will be retried`);
      }
      await this.putAway(tree, seen);
    }
    this.atPath = commit;
    // A previous tree that is gone cannot be kept for anyone.
    if (before.whole && before.commit !== null && before.commit !== commit) this.retirement.rememberPrevious(before.commit);
    await this.retirement.collectGarbage();
  }

  /** Retirement calls this before removing `commit`'s tree: drop it from the record first. */
  async forget(commit: string): Promise<void> {
    if (commit === this.atPath || !this.record.has(commit)) return;
    const next = new Map(this.record);
    next.delete(commit);
    await this.writeRecord(next);
  }

  /**
   * At start, on `path`'s filesystem: refuse, changing nothing, where RENAME_EXCHANGE cannot
   * work. Two scratch folders in the state folder (beside `path`, on the same filesystem as
   * `path`'s parent, checked) trade places once.
   */
  private async probe(): Promise<void> {
    const { path, parent, stateDir } = this.layout;
    const devOf = (p: string) => stat(p).then((s) => s.dev, () => null);
    const parentDev = await devOf(parent);
    const pathDev = await entryIdentity(path).then((id) => (id === null ? null : Number(id.dev)));
    if (pathDev !== null && parentDev !== null && pathDev !== parentDev) throw mountPointError(path);
    await mkdir(stateDir, { recursive: true });
    if ((await devOf(stateDir)) !== parentDev) {
      throw new SyncError('config', `"publish": "exchange": ${stateDir} is on another filesystem than ${parent}, so its trees cannot trade places with ${path}`);
    }
    const [a, b] = PROBE.map((n) => join(stateDir, n)) as [string, string];
    try {
      await Promise.all([a, b].map(async (d) => (await rm(d, { recursive: true, force: true }), await mkdir(d))));
      this.swap(a, b);
    } catch (err) {
      if (isUnsupported(err)) throw refusedError(path, parent, (err as ExchangeError).code);
      throw localError(`cannot check that ${parent} can exchange two paths`, err);
    } finally {
      await Promise.all([a, b].map((d) => rm(d, { recursive: true, force: true })));
    }
  }

  private exchangeOrRefuse(a: string, p: string): void {
    try {
      this.swap(a, p);
    } catch (err) {
      if (isUnsupported(err)) throw refusedError(p, this.layout.parent, (err as ExchangeError).code);
      if (err instanceof ExchangeError && err.code === 'EBUSY') throw mountPointError(p);
      // probe() has checked that `path` is on its parent's filesystem: EXDEV is overlayfs refusing to move a lower-layer directory.
      if (err instanceof ExchangeError && err.code === 'EXDEV') throw unmovableDirectoryError(p);
      throw localError(`cannot publish at ${p}`, err);
    }
  }

  /** After the swap, `out` holds what `path` held: file it where it belongs. */
  private async putAway(out: string, seen: AtPath): Promise<void> {
    if (seen.kind === 'tree') {
      // The replaced tree goes under its own commit's name, where retirement looks for it.
      await this.fileUnder(out, seen.commit);
      return;
    }
    // An empty directory holds nothing anyone needs; anything else (a clone taken over, a
    // symlink of symlink mode) is moved aside and removed after staleAfter.
    if (seen.kind === 'empty-dir' && (await rmdir(out).then(() => true, () => false))) return;
    await mkdir(this.layout.asideDir, { recursive: true });
    await rename(out, join(this.layout.asideDir, `previous-${Date.now()}`));
    await this.retirement.retireAsideLater();
  }

  /**
   * Trees under another commit's name (killed between a swap and the rename after it) go back
   * under their own: names then tell the truth for staging, keeping and retirement.
   */
  private async settle(): Promise<void> {
    for (const name of await readdir(this.layout.worktreesDir).catch(() => [] as string[])) {
      const commit = commitOf(this.record, await identityOf(worktreeDir(this.layout, name)));
      if (commit === null || commit === name) continue;
      await this.fileUnder(worktreeDir(this.layout, name), commit);
    }
  }

  /** Moves the tree at `from` to `commit`'s own folder, replacing whatever was there. */
  private async fileUnder(from: string, commit: string): Promise<void> {
    const home = worktreeDir(this.layout, commit);
    await rm(home, { recursive: true, force: true });
    await rename(from, home);
  }

  /** A whole tree of `commit` in its folder: one we recorded, or a checkout create() finished. */
  private async isWhole(commit: string): Promise<boolean> {
    const tree = worktreeDir(this.layout, commit);
    return commitOf(this.record, await identityOf(tree)) === commit || (await this.checkouts.isCheckoutOf(tree, commit));
  }

  /**
   * Readers get a plain directory, not a worktree they could take for a repository: the
   * worktree's `.git` file goes, and its submodules' (their git folders live in the worktree's
   * admin folder, which `git worktree prune` removes once the tree is no longer a worktree).
   * git never checks out a tracked `.git`, so every one in the tree is git's own.
   */
  private async stripGit(tree: string): Promise<void> {
    await rm(join(tree, '.git'), { recursive: true, force: true });
    if (this.entry.submodules === 'off' || !(await stat(join(tree, '.gitmodules')).then(() => true, () => false))) return;
    const walk = async (dir: string): Promise<void> => {
      // Dirent types come from lstat: a symlink in the tree is never followed out of it.
      for (const d of await readdir(dir, { withFileTypes: true })) {
        if (d.name === '.git') await rm(join(dir, d.name), { recursive: true, force: true });
        else if (d.isDirectory()) await walk(join(dir, d.name));
      }
    };
    await walk(tree);
  }

  private async writeRecord(record: TreeRecord): Promise<void> {
    await writeTreeRecord(this.layout, record).catch((err: unknown) => {
      throw localError(`cannot write ${this.layout.treeRecord}`, err);
    });
    this.record = record;
  }
}

function refusedError(path: string, parent: string, code: string): SyncError {
  return new SyncError(
    'config',
    `"publish": "exchange" needs renameat2(RENAME_EXCHANGE), which the filesystem of ${parent} refuses (${code}); nothing was changed at ${path}. Use "publish": "symlink" (atomic; path becomes a symlink) or "in-place"`,
  );
}

function mountPointError(path: string): SyncError {
  return new SyncError(
    'config',
    `"publish": "exchange": ${path} is a mount point (another filesystem than its parent) and cannot trade places with a tree beside it; mount its parent instead, or set "publish": "in-place"`,
  );
}
