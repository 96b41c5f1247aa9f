// One repository's sync: check the remote cheaply, fetch only when it moved, publish exactly the
// commit fetched. Every step that touches git state runs one at a time (see `exclusive`). Where
// commits are fetched into and how they reach readers are the strategies' (strategies.ts).

import { lstat, realpath } from 'node:fs/promises';
import { dirname, sep } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { isInside } from '../shared/paths.js';
import type { Log } from '../shared/log.js';
import type { FetchProgress } from '../shared/protocol.js';
import { entryLayout, type Layout } from '../shared/layout.js';
import { Holds } from './holds.js';
import { loadCredentials } from './credentials.js';
import { EntryGit } from './entry-git.js';
import { hookEnv, runCommand } from './hooks.js';
import type { SyncOutcome } from './outcome.js';
import { localError } from './publish.js';
import { Remote } from './remote.js';
import { lockEntry, type EntryLock } from './entry-lock.js';
import { killLeftoverGit } from './repair.js';
import { chooseStrategies, type Strategies } from './strategies.js';
import { decideSync } from './sync-decision.js';
import { readVerifyKeys, UnverifiedError, verifyFetched, type VerifyKeys } from './verify.js';

export type { SyncOutcome } from './outcome.js';
export { configBlock, sameRemote } from './repo-config.js';

export class VetoError extends SyncError {
  constructor(
    readonly commit: string,
    message: string,
  ) {
    super('vetoed', message);
  }
}

export class RepoSync {
  readonly layout: Layout;
  private queue: Promise<unknown> = Promise.resolve();
  /** The commit the pre-publish hook refused; not tried again until the remote moves. */
  private vetoed: string | null = null;
  /** The commit verification refused, with the digest of the key files it was checked against. */
  private unverified: { commit: string; digest: string } | null = null;
  /** Held from prepare() on: no other agent (another daemon on the volume) touches the entry. */
  private entryLock: EntryLock | null = null;

  private readonly git: EntryGit;
  /** A group member: the trees its group still links (the supervisor's `hold`). */
  readonly holds = new Holds();
  private readonly remote: Remote;
  /** Chosen by the first prepare(), once: see strategies.ts. */
  private strategies: Strategies | null = null;

  constructor(
    readonly entry: ResolvedEntry,
    private readonly log: Log,
    /** Hears how far each fetch is. */
    onProgress?: (p: FetchProgress) => void,
  ) {
    this.layout = entryLayout(entry);
    this.git = new EntryGit(entry, this.layout);
    this.remote = new Remote(entry, log, this.git, onProgress);
  }

  private get repository() {
    return this.chosen().repository;
  }

  private get publisher() {
    return this.chosen().publisher;
  }

  private chosen(): Strategies {
    if (this.strategies === null) throw new Error('RepoSync used before prepare() chose its strategies');
    return this.strategies;
  }

  /**
   * Folders where git runs for this entry (to find our own git processes); none until we hold
   * the entry's lock, since until then git running there is another daemon's.
   */
  ownedDirs(): string[] {
    return this.entryLock === null || this.strategies === null ? [] : [this.strategies.publisher.home];
  }

  /**
   * After a sync was abandoned at shutdown (its git killed): give back the space a half-done
   * fetch took. Only our own repository; a shared store's temp files are cleared under its lock.
   */
  async sweepAbandonedFetch(): Promise<void> {
    await this.strategies?.repository.sweepAbandonedFetch();
  }

  /** Run `fn` after everything queued before it: syncs and tree removals never overlap. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Heal leftovers of a killed predecessor and report what is published now. */
  prepare(): Promise<string | null> {
    // Files git writes for this entry come out group-writable (consumers in the same group).
    if (this.entry.fileMode === 'group-write') process.umask(0o002);
    return this.exclusive(async () => {
      // Removals check confinement too: never delete through a folder swapped for a symlink.
      this.strategies ??= await chooseStrategies(this.entry, this.layout, this.log, this.git, (fn) => this.exclusive(async () => {
        await this.checkConfinement();
        await fn();
      }), this.holds);
      // First of all: git processes and lock files in our folders may be another live daemon's,
      // not a dead predecessor's. Refused (EntryLockedError), we touch nothing and retry later.
      // The lock's folder is made only where SYNC_ROOT allows writing.
      if (this.entryLock === null) await this.checkConfinement();
      this.entryLock ??= await lockEntry(this.layout, this.publisher.home);
      const killed = await killLeftoverGit(this.ownedDirs());
      if (killed.length > 0) this.log.warn('killed leftover git processes', { pids: killed });
      await this.repository.heal();
      return this.publisher.adopt();
    });
  }

  sync(): Promise<SyncOutcome> {
    return this.exclusive(async () => {
      try {
        await this.checkConfinement();
        return await this.syncOnce();
      } catch (err) {
        // A file-system failure (disk full, permissions) is a failed sync, not a broken agent.
        const failure = err instanceof SyncError ? err : typeof (err as NodeJS.ErrnoException).code === 'string' ? localError('file system error', err) : null;
        if (failure === null) throw err;
        // Damage may be behind it: look at the git state again (and re-create it) next time.
        if (failure.kind === 'local-state' || failure.kind === 'git') this.repository.recheck();
        throw failure;
      }
    });
  }

  /** Stop timers; trees waiting for removal are cleaned by the next agent's prepare(). */
  close(): void {
    this.remote.close();
    this.strategies?.publisher.close();
    this.entryLock?.release();
    this.entryLock = null;
  }

  private async syncOnce(): Promise<SyncOutcome> {
    const published = await this.publisher.current();
    const previous = published.commit;
    await this.repository.open();
    const creds = await loadCredentials(this.entry, this.layout.secretsDir);
    const env = creds.env;
    const target = await this.repository.resolve(this.remote, creds, previous !== null);
    // Read on every sync: a key added to a file is used without a restart, and makes the commit
    // it refused worth checking again.
    const keys = this.entry.verify === null ? null : await readVerifyKeys(this.entry.verify);
    const unverified = this.unverified !== null && this.unverified.digest === keys?.digest ? this.unverified.commit : null;
    const facts = { published, remote: target.seen, fetched: null, refused: unverified ?? this.vetoed };
    const tag = target.tag === undefined ? {} : { tag: target.tag };
    // Unchanged because the remote's commit was refused: the tag shown stays the published one's.
    if (decideSync(facts) === 'unchanged') return { ...this.unchanged(published, false), ...(target.seen === previous ? tag : {}) };

    // Fetches into a shared store take turns; checkouts only read objects and run side by side.
    const commit = await this.repository.fetch(this.remote, target, env);
    if (decideSync({ ...facts, fetched: commit }) === 'unchanged') return { ...this.unchanged(published, true), ...(commit === previous ? tag : {}) };

    // Before anything is written where readers look (in place, the files themselves) and before
    // the pre-publish hook runs on the tree.
    if (keys !== null) await this.verify(commit, keys);
    const tree = await this.publisher.stage(commit, env);
    await this.prePublish(tree, commit);
    await this.publisher.publish(commit, tree, published, env);
    await this.repository.afterPublish();
    // Where the tree is now: in exchange mode it moved from where it was staged to `path`.
    return { result: 'synced', commit, tree: this.publisher.treeOf(commit), previousCommit: previous, fetched: true, kept: this.publisher.kept, ...tag };
  }

  private unchanged(published: { commit: string | null }, fetched: boolean): SyncOutcome {
    const commit = published.commit as string; // "unchanged" only ever names a whole published tree
    return { result: 'unchanged', commit, tree: this.publisher.treeOf(commit), previousCommit: commit, fetched };
  }

  /** A commit without a good signature is never published, and not tried again until the remote or the keys change. */
  private async verify(commit: string, keys: VerifyKeys): Promise<void> {
    try {
      await verifyFetched(this.repository.runner(), this.git.opts(), keys, commit, this.repository.targetRef, this.layout.secretsDir);
      this.unverified = null;
    } catch (err) {
      if (err instanceof UnverifiedError) this.unverified = { commit, digest: keys.digest };
      throw err;
    }
  }

  /** The pre-publish hook's veto: the tree is never published and the commit not retried. */
  private async prePublish(tree: string, commit: string): Promise<void> {
    const hook = this.entry.hooks.prePublish;
    if (hook === undefined) return;
    const outcome = await runCommand(hook.command, hook.timeoutMs, tree, hookEnv(this.entry, commit), this.log, 'pre-publish');
    if (outcome.ok) return;
    this.vetoed = commit;
    this.publisher.discard(commit);
    throw new VetoError(commit, `pre-publish hook vetoed ${commit.slice(0, 12)} (${outcome.message}); the previous tree stays published`);
  }

  /**
   * Before every sync and every removal, not once: a folder can be swapped for a symlink while
   * we run. SYNC_ROOT holds on disk (the real location of `path`'s folder), and the folders we
   * made ourselves are still real folders, never symlinks planted in their place.
   */
  private async checkConfinement(): Promise<void> {
    const root = this.entry.syncRoot;
    if (root !== undefined) {
      const realRoot = await realpath(root);
      // Resolve the deepest folder that exists before creating anything, so that not even an
      // empty folder is made on the far side of a symlink.
      let probe = this.publisher.outermost;
      while (!(await lstat(probe).then(() => true, () => false)) && dirname(probe) !== probe) probe = dirname(probe);
      const resolved = await realpath(probe).catch(() => `${probe} (a dangling symlink)`);
      if (resolved !== realRoot && !isInside(realRoot, resolved)) {
        throw new SyncError('config', `"path" ${this.layout.path} resolves to ${resolved}, outside SYNC_ROOT (${root}), through a symlink; refusing to write there`);
      }
    }
    for (const dir of this.ownFolders()) {
      const info = await lstat(dir).catch(() => null);
      if (info !== null && !info.isDirectory()) {
        throw new SyncError('config', `${dir} is not a folder (a symlink?); git-autosync made it as a folder and will not write through it`);
      }
    }
  }

  /** Folders we create and write into, outer ones first: each must be a real folder wherever it exists. */
  private ownFolders(): string[] {
    const depth = (p: string) => p.split(sep).length;
    return [...this.repository.folders, ...this.publisher.folders].sort((a, b) => depth(a) - depth(b));
  }
}
