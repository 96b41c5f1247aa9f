// One repository's sync: check the remote cheaply, fetch only when it moved, publish exactly the
// commit fetched. Every step that touches git state runs one at a time (see `exclusive`).

import { appendFile, lstat, mkdir, readdir, realpath, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry, SharedStore } from '../shared/listing-schema.js';
import { isInside } from '../shared/paths.js';
import type { Log } from '../shared/logger.js';
import { displayUrl } from '../shared/redact.js';
import { layoutFor, STORE_MEMBERS_DIR, worktreeDir, type Layout } from '../shared/layout.js';
import { Checkouts } from './checkout.js';
import { loadCredentials } from './credentials.js';
import { EntryGit } from './entry-git.js';
import type { GitRunner } from './git.js';
import { hookEnv, runCommand } from './hooks.js';
import { InPlace } from './in-place.js';
import type { SyncOutcome } from './outcome.js';
import { localError, readPublished, swapLink, type PublishedState } from './publish.js';
import { Remote, type RemoteTarget } from './remote.js';
import { lockEntry, type EntryLock } from './entry-lock.js';
import { killLeftoverGit, removeFetchLeftovers, removeStaleLocks } from './repair.js';
import { configBlock, configureRemote, sameRemote, wantedConfig } from './repo-config.js';
import { Retirement } from './retire.js';
import { memberRef, StoreAccess } from './shared-store.js';

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

// Where fetched commits are kept reachable, so gc never takes the tree being published. In a
// shared store each entry has its own (see memberRef).
const TARGET_REF = 'refs/autosync/target';

export class RepoSync {
  readonly layout: Layout;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set once the bare repository was checked in this process; cleared when git reports damage. */
  private gitDirChecked = false;
  /** The commit the pre-publish hook refused; not tried again until the remote moves. */
  private vetoed: string | null = null;
  /** Held from prepare() on: no other agent (another daemon on the volume) touches the entry. */
  private entryLock: EntryLock | null = null;

  /** The object store shared with other entries of the same remote, if any. */
  private readonly store: SharedStore | null;
  /** Our ref in the repository (per entry in a shared store). */
  private readonly targetRef: string;
  private readonly git: EntryGit;
  private readonly shared: StoreAccess;
  private readonly remote: Remote;
  private readonly checkouts: Checkouts;
  private readonly retirement: Retirement;
  /** Set for an entry published in place (no symlink, no worktrees). */
  private readonly inPlace: InPlace | null;

  constructor(
    readonly entry: ResolvedEntry,
    private readonly log: Log,
  ) {
    this.layout = layoutFor(entry.path, entry.publish);
    this.store = entry.publish === 'symlink' ? entry.store : null;
    this.targetRef = this.store === null ? TARGET_REF : memberRef(entry.name);
    this.git = new EntryGit(entry, this.layout, this.store);
    this.shared = new StoreAccess(entry, this.store, this.layout, log, this.git);
    this.remote = new Remote(entry, log, this.git, this.targetRef);
    this.checkouts = new Checkouts(entry, this.git, this.shared);
    // Removals check confinement too: never delete through a folder swapped for a symlink.
    this.retirement = new Retirement(entry, this.layout, log, this.git, this.shared, (fn) => this.exclusive(async () => {
      await this.checkConfinement();
      await fn();
    }));
    this.inPlace = entry.publish === 'in-place' ? new InPlace(entry, this.layout, this.git, this.remote, this.checkouts) : null;
  }

  /**
   * Folders where git runs for this entry (to find our own git processes); none until we hold
   * the entry's lock, since until then git running there is another daemon's.
   */
  ownedDirs(): string[] {
    if (this.entryLock === null) return [];
    return this.entry.publish === 'symlink' ? [this.layout.stateDir] : [this.layout.path];
  }

  /**
   * After a sync was abandoned at shutdown (its git killed): give back the space a half-done
   * fetch took. Only our own repository; a shared store's temp files are cleared under its lock.
   */
  async sweepAbandonedFetch(): Promise<void> {
    if (this.store === null) await removeFetchLeftovers(this.layout.gitDir);
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
      // First of all: git processes and lock files in our folders may be another live daemon's,
      // not a dead predecessor's. Refused (EntryLockedError), we touch nothing and retry later.
      // The lock's folder is made only where SYNC_ROOT allows writing.
      if (this.entryLock === null) await this.checkConfinement();
      this.entryLock ??= await lockEntry(this.layout, this.entry.publish);
      const killed = await killLeftoverGit(this.ownedDirs());
      if (killed.length > 0) this.log.warn('killed leftover git processes', { pids: killed });
      // A predecessor killed mid-fetch left its partial objects: give the space back now.
      if (this.store === null) await removeFetchLeftovers(this.layout.gitDir).catch(() => []);
      // Repairs are best effort: what cannot be fixed here is reported by the sync that trips on it.
      // A shared store's locks may be another agent's: they are cleared under the store lock.
      const locks = this.store !== null ? [] : await removeStaleLocks(this.layout.gitDir).catch((err: unknown) => {
        this.log.warn('could not remove stale git locks', { error: (err as Error).message });
        return [];
      });
      if (locks.length > 0) this.log.warn('removed stale git locks', { locks });
      if (this.inPlace !== null) return this.inPlace.head();
      const published = await readPublished(this.layout).catch(() => ({ kind: 'absent' }) as const);
      const current = published.kind === 'ours' && published.healthy ? published.commit : null;
      await this.retirement.adoptLeftovers(current, (c) => this.checkouts.isCheckoutOf(worktreeDir(this.layout, c), c));
      return current;
    });
  }

  sync(): Promise<SyncOutcome> {
    return this.exclusive(async () => {
      try {
        await this.checkConfinement();
        return await (this.inPlace === null ? this.syncSymlink() : this.inPlace.sync());
      } catch (err) {
        // A file-system failure (disk full, permissions) is a failed sync, not a broken agent.
        const failure = err instanceof SyncError ? err : typeof (err as NodeJS.ErrnoException).code === 'string' ? localError('file system error', err) : null;
        if (failure === null) throw err;
        // Damage may be behind it: look at the git state again (and re-create it) next time.
        if (failure.kind === 'local-state' || failure.kind === 'git') {
          this.gitDirChecked = false;
          this.inPlace?.recheck();
        }
        throw failure;
      }
    });
  }

  /** Stop timers; trees waiting for removal are cleaned by the next agent's prepare(). */
  close(): void {
    this.remote.close();
    this.retirement.close();
    this.entryLock?.release();
    this.entryLock = null;
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
      let probe = this.entry.publish === 'in-place' ? this.layout.path : this.layout.parent;
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

  /** Folders we create and write into: each must be a real folder wherever it exists. */
  private ownFolders(): string[] {
    const { stateDir, gitDir, worktreesDir, secretsDir, asideDir, path } = this.layout;
    if (this.entry.publish === 'in-place') return [join(path, '.git'), stateDir, secretsDir];
    const stores = this.store === null ? [] : [dirname(this.store.dir), this.store.dir];
    return [stateDir, gitDir, worktreesDir, secretsDir, asideDir, ...stores];
  }

  // ---- symlink mode -------------------------------------------------------------------------

  private async syncSymlink(): Promise<SyncOutcome> {
    const published = await readPublished(this.layout);
    await this.refuseForeign(published);
    const previous = published.kind === 'ours' ? published.commit : null;
    const creds = await loadCredentials(this.entry, this.layout.secretsDir);
    const env = creds.env;
    let git: GitRunner;
    let target: RemoteTarget;
    if (this.store === null) {
      git = await this.bareRepo();
      // With nothing published yet there is nothing to compare: go straight to the fetch.
      target = await this.remote.resolve(previous === null ? null : git, creds);
    } else {
      // The store may not exist yet: ask the remote from our own folder, and say what we follow
      // before queueing for the store, so that whichever entry fetches first brings ours too.
      await this.makeStateDir();
      target = await this.remote.resolve(this.git.runner(this.layout.stateDir), creds);
      await this.shared.registerMember(target.source);
      git = this.git.repo();
    }
    const healthy = published.kind === 'ours' && published.healthy;
    if (healthy && (target.seen === published.commit || (target.seen !== null && target.seen === this.vetoed))) {
      return { result: 'unchanged', commit: published.commit, tree: worktreeDir(this.layout, published.commit), previousCommit: previous, fetched: false };
    }

    // Fetches into a shared store take turns; checkouts only read objects and run side by side.
    const commit = await this.shared.withStore(async () => {
      if (!this.gitDirChecked) await this.checkRepo();
      return this.fetchOrReuse(git, target, env);
    });
    if (healthy && (commit === published.commit || commit === this.vetoed)) {
      return { result: 'unchanged', commit: published.commit, tree: worktreeDir(this.layout, published.commit), previousCommit: previous, fetched: true };
    }

    const tree = worktreeDir(this.layout, commit);
    this.retirement.cancelRetirement(commit);
    if (!(await this.checkouts.isCheckoutOf(tree, commit))) await this.checkouts.create(git, tree, commit, env);
    await this.prePublish(tree, commit);
    const { movedAside } = await swapLink(this.layout, commit, published);
    // A previous tree that is gone (its link dangled) cannot be kept for anyone.
    if (healthy && previous !== null && previous !== commit) this.retirement.rememberPrevious(previous);
    if (movedAside !== null) await this.retirement.retireAsideLater();
    await this.retirement.collectGarbage(git);
    await this.shared.dropOwnRepoOnceShared();
    return { result: 'synced', commit, tree, previousCommit: previous, fetched: true, kept: this.retirement.kept };
  }

  /**
   * Under the store's lock: the commit to publish. In a shared store, when another entry's
   * fetch already brought the commit the remote showed us, that fetched ref is used as is;
   * otherwise one fetch brings our ref and the other entries' refs together.
   */
  private async fetchOrReuse(git: GitRunner, target: RemoteTarget, env: Record<string, string>): Promise<string> {
    if (this.store === null) return this.remote.fetch(git, target.source, env);
    if (target.seen !== null) {
      const have = (await git.run(['rev-parse', '--verify', '--quiet', `${this.targetRef}^{commit}`], this.git.opts()).catch(() => '')).trim();
      if (have === target.seen) {
        this.log.debug('commit already fetched into the shared store by another entry', { commit: have });
        return have;
      }
    }
    const others = await this.shared.membersRefspecs();
    let commit: string;
    try {
      commit = await this.remote.fetch(git, target.source, env, others);
    } catch (err) {
      // Another entry's ref may be gone from the remote: that must never fail this entry.
      if (others.length === 0 || !(err instanceof SyncError) || err.kind !== 'invalid-ref') throw err;
      this.shared.fetchOursAlone();
      commit = await this.remote.fetch(git, target.source, env);
    }
    return commit;
  }

  /** The pre-publish hook's veto: the tree is never published and the commit not retried. */
  private async prePublish(tree: string, commit: string): Promise<void> {
    const hook = this.entry.hooks.prePublish;
    if (hook === undefined) return;
    const outcome = await runCommand(hook.command, hook.timeoutMs, tree, hookEnv(this.entry, commit), this.log, 'pre-publish');
    if (outcome.ok) return;
    this.vetoed = commit;
    this.retirement.retireLater(commit);
    throw new VetoError(commit, `pre-publish hook vetoed ${commit.slice(0, 12)} (${outcome.message}); the previous tree stays published`);
  }

  /** Refuse to publish over anything we did not make, unless it is the original tool's clone of this repo. */
  private async refuseForeign(published: PublishedState): Promise<void> {
    const p = this.layout.path;
    if (published.kind === 'foreign') {
      throw new SyncError('local-state', `${p} is ${published.what}; git-autosync will not replace it. Move it away or choose another path`);
    }
    if (published.kind === 'directory') {
      const url = await this.git.runner(p).run(['config', '--get', 'remote.origin.url'], this.git.opts()).catch(() => '');
      if (!sameRemote(url.trim(), this.entry.repo)) {
        throw new SyncError(
          'local-state',
          `${p} is a non-empty directory that is not a clone of ${displayUrl(this.entry.repo)}; git-autosync will not delete or overwrite it. Move it away or choose another path`,
        );
      }
      this.log.info('taking over an existing clone', { path: p });
    }
  }

  /** Our own bare repository, created (or re-created when damaged) as needed. */
  private async bareRepo(): Promise<GitRunner> {
    await this.makeStateDir();
    if (this.gitDirChecked) return this.git.repo();
    return this.checkRepo();
  }

  /** Our state folder, made once per check of the repository (not on every poll). */
  private async makeStateDir(): Promise<void> {
    if (this.gitDirChecked) return;
    const { worktreesDir } = this.layout;
    await mkdir(worktreesDir, { recursive: true }).catch((err) => {
      throw localError(`cannot create ${worktreesDir}`, err);
    });
  }

  /** Check the repository (ours, or the shared store holding its lock); re-create it when damaged. */
  private async checkRepo(): Promise<GitRunner> {
    const gitDir = this.git.gitDir;
    const git = this.git.runner(this.layout.stateDir);
    const healthy = await stat(join(gitDir, 'HEAD')).then(
      () => this.git.repo().run(['rev-parse', '--is-bare-repository'], this.git.opts()).then((out) => out.trim() === 'true'),
      () => false,
    ).catch(() => false);
    if (!healthy) {
      // A new store holds only the entries' registrations (see registerMember): keep them.
      const leftovers = this.store === null
        ? (await stat(gitDir).then(() => [gitDir], () => []))
        : (await readdir(gitDir).catch(() => [] as string[])).filter((n) => n !== STORE_MEMBERS_DIR).map((n) => join(gitDir, n));
      if (leftovers.length > 0) this.log.warn('git state is damaged; re-creating it', { gitDir });
      for (const p of leftovers) await rm(p, { recursive: true, force: true });
      // An empty template: no sample hooks to copy (measurable on slow disks), none to run.
      await git.run(['init', '--bare', '--quiet', '--template=', gitDir], this.git.opts());
      // A fresh repository gets its settings in one write instead of one git process each.
      await appendFile(join(gitDir, 'config'), configBlock(wantedConfig(this.entry, this.store)));
    }
    const bare = this.git.repo();
    if (healthy) await configureRemote(bare, wantedConfig(this.entry, this.store), this.git.opts()); // the entry may have changed since
    this.gitDirChecked = true;
    return bare;
  }
}
