// One repository's sync: check the remote cheaply, fetch only when it moved, publish exactly the
// commit fetched. Every step that touches git state runs one at a time (see `exclusive`).

import { createHash } from 'node:crypto';
import { appendFile, lstat, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { isInside } from '../shared/paths.js';
import { checkRefName, isFullSha, remoteIdentity } from '../shared/ref-and-url.js';
import type { Log } from '../shared/logger.js';
import { displayUrl } from '../shared/redact.js';
import { loadCredentials, type Credentials } from './credentials.js';
import { hookEnv, runCommand } from './hooks.js';
import { HttpProber, probeGit, type ProbeResult, type ProbeTarget } from './probe.js';
import { GitRunner } from './git.js';
import { layoutFor, OWNER_MARKER, STORE_MEMBERS_DIR, worktreeDir, type Layout } from '../shared/layout.js';
import { localError, readPublished, swapLink, type PublishedState } from './publish.js';
import { killLeftoverGit, removeStaleLocks } from './repair.js';
import { acquireStoreLock } from './store-lock.js';
import type { SharedStore } from '../shared/listing-schema.js';

export class VetoError extends SyncError {
  constructor(
    readonly commit: string,
    message: string,
  ) {
    super('vetoed', message);
  }
}

export interface SyncOutcome {
  result: 'synced' | 'unchanged';
  commit: string;
  /** Previously published commits still kept on disk (`keep`), newest first. */
  kept?: string[];
  /** The folder holding that commit's files. */
  tree: string;
  previousCommit: string | null;
  fetched: boolean;
}

interface RemoteTarget {
  /** What to fetch: a full ref name, HEAD, or a sha. */
  source: string;
  /** The commit ls-remote saw; null when not asked (first sync, or a pinned sha). */
  seen: string | null;
}

// Where fetched commits are kept reachable, so gc never takes the tree being published. In a
// shared store each entry has its own (see targetRef).
const TARGET_REF = 'refs/autosync/target';
// Past these, replaced commits' objects are collected (gc "auto").
const LOOSE_OBJECTS_LIMIT = 256;
const PACKS_LIMIT = 20;
// After this many polls where git answered and the in-process probe could not, stop probing.
const PROBE_MISSES_ALLOWED = 3;
// What another entry's fetch may follow for us: the remote's HEAD or a full ref name (no sha).
const MEMBER_ID = /^[0-9a-f]{16}$/;
const MEMBER_SOURCE = /^(HEAD|refs\/[A-Za-z0-9._/-]+)$/;

export class RepoSync {
  readonly layout: Layout;
  private readonly retiring = new Map<string, NodeJS.Timeout>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set once the bare repository was checked in this process; cleared when git reports damage. */
  private gitDirChecked = false;
  private rootChecked = false;
  /** The commit the pre-publish hook refused; not tried again until the remote moves. */
  private vetoed: string | null = null;
  /** Previously published commits still on disk (`keep`), newest first. */
  private kept: string[] = [];
  private httpProber: HttpProber | null = null;
  /** Polls where the in-process probe could not answer but git could. */
  private probeMisses = 0;

  /** The object store shared with other entries of the same remote, if any. */
  private readonly store: SharedStore | null;
  /** Our ref in the repository (per entry in a shared store). */
  private readonly targetRef: string;
  private storeRunner: GitRunner | null = null;
  /** The full ref name we fetch (recorded for the other entries' fetches). */
  private memberSource: string | null = null;
  /** Set once a fetch with the other entries' refs failed on one of them: fetch ours alone. */
  private soloFetch = false;
  /** The shared store's stale git locks are removed once, the first time we hold its lock. */
  private storeRepaired = false;

  constructor(
    readonly entry: ResolvedEntry,
    private readonly log: Log,
  ) {
    this.layout = layoutFor(entry.path, entry.publish);
    this.store = entry.publish === 'symlink' ? entry.store : null;
    this.targetRef = this.store === null ? TARGET_REF : `refs/autosync/entries/${entryId(entry.name)}`;
  }

  /** The repository fetched into: our own, or the shared store. */
  private get gitDir(): string {
    return this.store?.dir ?? this.layout.gitDir;
  }

  /** Runs git on the repository (for a shared store: from our own folder, with GIT_DIR). */
  private repo(): GitRunner {
    if (this.store === null) return this.runner(this.layout.gitDir);
    this.storeRunner ??= new GitRunner(this.layout.stateDir, { allowFileTransport: this.entry.transport === 'file', extraConfig: this.entry.gitConfig, gitDir: this.store.dir });
    return this.storeRunner;
  }

  /**
   * Run `fn` holding the shared store's lock (directly when the store is our own): fetches,
   * checkouts, worktree pruning and gc of one store never overlap. Polls take no lock.
   */
  private async withStore<T>(fn: () => Promise<T>): Promise<T> {
    const store = this.store;
    if (store === null) return fn();
    await mkdir(dirname(store.dir), { recursive: true }).catch((err) => {
      throw localError(`cannot create ${dirname(store.dir)}`, err);
    });
    // Long enough for another entry's fetch and checkout, each bounded by its timeout.
    const waitStarted = Date.now();
    const lock = await acquireStoreLock(`${store.dir}.lock`, 3 * this.entry.timeoutMs, this.layout.stateDir);
    const waitedMs = Date.now() - waitStarted;
    if (waitedMs >= 100) this.log.debug('waited for the shared object store', { waitedMs });
    try {
      if (!this.storeRepaired) {
        // Holding the lock, no other agent fetches or collects here: such git lock files are
        // stale. Worktree locks are not: checkouts run without the store's lock.
        const locks = await removeStaleLocks(store.dir, ['worktrees']).catch(() => []);
        if (locks.length > 0) this.log.warn('removed stale git locks', { locks });
        this.storeRepaired = true;
      }
      return await fn();
    } finally {
      lock.release();
    }
  }

  private readonly runners = new Map<string, GitRunner>();

  /** A git runner for `cwd` under this entry's transport policy (kept: polls reuse it). */
  private runner(cwd: string): GitRunner {
    let r = this.runners.get(cwd);
    if (r === undefined) {
      r = new GitRunner(cwd, { allowFileTransport: this.entry.transport === 'file', extraConfig: this.entry.gitConfig });
      // Trees come and go with commits; only the few long-lived folders are worth keeping.
      if (cwd === this.layout.gitDir || cwd === this.layout.stateDir || cwd === this.layout.path) this.runners.set(cwd, r);
    }
    return r;
  }

  /** Folders where git runs for this entry (to find our own git processes). */
  ownedDirs(): string[] {
    return this.entry.publish === 'symlink' ? [this.layout.stateDir] : [this.layout.path];
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
      const killed = await killLeftoverGit(this.ownedDirs());
      if (killed.length > 0) this.log.warn('killed leftover git processes', { pids: killed });
      // Repairs are best effort: what cannot be fixed here is reported by the sync that trips on it.
      // A shared store's locks may be another agent's: they are cleared under the store lock.
      const locks = this.store !== null ? [] : await removeStaleLocks(this.layout.gitDir).catch((err: unknown) => {
        this.log.warn('could not remove stale git locks', { error: (err as Error).message });
        return [];
      });
      if (locks.length > 0) this.log.warn('removed stale git locks', { locks });
      if (this.entry.publish === 'in-place') return this.inPlaceHead();
      const published = await readPublished(this.layout).catch(() => ({ kind: 'absent' }) as const);
      const current = published.kind === 'ours' && published.healthy ? published.commit : null;
      // Trees left by a crash mid-checkout, or whose removal timer died with the old agent.
      const leftovers = (await readdir(this.layout.worktreesDir).catch(() => [] as string[])).filter((c) => c !== current);
      // The newest `keep` of them were published before and stay; the rest go after staleAfter.
      const byAge = await Promise.all(
        leftovers.map(async (c) => ({ c, t: await stat(worktreeDir(this.layout, c)).then((s) => s.mtimeMs, () => 0) })),
      );
      byAge.sort((a, b) => b.t - a.t);
      this.kept = byAge.slice(0, this.entry.keep).map((x) => x.c);
      for (const { c } of byAge.slice(this.entry.keep)) this.retireLater(c);
      await this.retireAsideLater();
      return current;
    });
  }

  sync(): Promise<SyncOutcome> {
    return this.exclusive(async () => {
      try {
        await this.checkInsideRoot();
        return await (this.entry.publish === 'symlink' ? this.syncSymlink() : this.syncInPlace());
      } catch (err) {
        // A file-system failure (disk full, permissions) is a failed sync, not a broken agent.
        const failure = err instanceof SyncError ? err : typeof (err as NodeJS.ErrnoException).code === 'string' ? localError('file system error', err) : null;
        if (failure === null) throw err;
        // Damage may be behind it: look at the git state again (and re-create it) next time.
        if (failure.kind === 'local-state' || failure.kind === 'git') this.gitDirChecked = false;
        throw failure;
      }
    });
  }

  /** Stop timers; trees waiting for removal are cleaned by the next agent's prepare(). */
  close(): void {
    this.closed = true;
    this.httpProber?.close();
    for (const t of this.retiring.values()) clearTimeout(t);
    this.retiring.clear();
  }

  /** SYNC_ROOT holds on disk too: a symlinked folder must not carry `path` outside it. */
  private async checkInsideRoot(): Promise<void> {
    const root = this.entry.syncRoot;
    if (root === undefined || this.rootChecked) return;
    const realRoot = await realpath(root);
    // Resolve the deepest folder that exists before creating anything, so that not even an
    // empty folder is made on the far side of a symlink.
    let probe = this.entry.publish === 'in-place' ? this.layout.path : this.layout.parent;
    while (!(await stat(probe).then(() => true, () => false)) && dirname(probe) !== probe) probe = dirname(probe);
    const resolved = await realpath(probe);
    if (resolved !== realRoot && !isInside(realRoot, resolved)) {
      throw new SyncError('config', `"path" ${this.layout.path} resolves to ${resolved}, outside SYNC_ROOT (${root}), through a symlink; refusing to write there`);
    }
    // Our state folder must be a real folder of ours, not a symlink someone planted.
    const state = await lstat(this.layout.stateDir).catch(() => null);
    if (state !== null && !state.isDirectory()) {
      throw new SyncError('config', `${this.layout.stateDir} is not a folder (a symlink?); git-autosync keeps its state there and will not write through it`);
    }
    const stores = this.store === null ? null : await lstat(dirname(this.store.dir)).catch(() => null);
    if (stores !== null && !stores.isDirectory()) {
      throw new SyncError('config', `${dirname(this.store!.dir)} is not a folder (a symlink?); git-autosync keeps shared object stores there and will not write through it`);
    }
    this.rootChecked = true;
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
      target = await this.resolveRemote(previous === null ? null : git, creds);
    } else {
      // The store may not exist yet: ask the remote from our own folder, and say what we follow
      // before queueing for the store, so that whichever entry fetches first brings ours too.
      await this.makeStateDir();
      target = await this.resolveRemote(this.runner(this.layout.stateDir), creds);
      await this.registerMember(target.source);
      git = this.repo();
    }
    const healthy = published.kind === 'ours' && published.healthy;
    if (healthy && (target.seen === published.commit || (target.seen !== null && target.seen === this.vetoed))) {
      return { result: 'unchanged', commit: published.commit, tree: worktreeDir(this.layout, published.commit), previousCommit: previous, fetched: false };
    }

    // Fetches into a shared store take turns; checkouts only read objects and run side by side.
    const commit = await this.withStore(async () => {
      if (!this.gitDirChecked) await this.checkRepo();
      return this.fetchOrReuse(git, target, env);
    });
    if (healthy && (commit === published.commit || commit === this.vetoed)) {
      return { result: 'unchanged', commit: published.commit, tree: worktreeDir(this.layout, published.commit), previousCommit: previous, fetched: true };
    }

    const tree = worktreeDir(this.layout, commit);
    this.cancelRetirement(commit);
    if (!(await this.isCheckoutOf(tree, commit))) await this.checkout(git, tree, commit, env);
    await this.prePublish(tree, commit);
    const { movedAside } = await swapLink(this.layout, commit, published);
    if (previous !== null && previous !== commit) this.rememberPrevious(previous);
    if (movedAside !== null) await this.retireAsideLater();
    await this.collectGarbage(git);
    await this.dropOwnRepoOnceShared();
    return { result: 'synced', commit, tree, previousCommit: previous, fetched: true, kept: [...this.kept] };
  }

  /** A fresh worktree of `commit` at `tree`: sparse when asked, submodules as asked. */
  private async checkout(git: GitRunner, tree: string, commit: string, env: Record<string, string>): Promise<void> {
    await rm(tree, { recursive: true, force: true });
    // Registering a worktree is not safe beside another `worktree add` or prune in the same
    // repository (git reads the others' half-written admin folders): it takes the store's
    // lock, and adds no files. Filling the tree, the slow part, then runs side by side.
    await this.withStore(async () => {
      // Only when git has worktrees registered (none on a first sync).
      if ((await readdir(join(this.gitDir, 'worktrees')).catch(() => [])).length > 0) await git.run(['worktree', 'prune'], this.opts());
      await git.run(['worktree', 'add', '--quiet', '--detach', '--force', '--no-checkout', tree, commit], this.opts());
    });
    const inTree = this.runner(tree);
    // Directories were validated (relative, no leading "-"), so they are safe as arguments.
    if (this.entry.sparse !== null) await inTree.run(['sparse-checkout', 'set', '--cone', ...this.entry.sparse], this.opts(env));
    // Credentials too: a partial clone fetches the blobs it checks out from the remote.
    await inTree.run(['reset', '--hard', '--quiet', commit], this.opts(env));
    await this.updateSubmodules(inTree, env);
  }

  private async updateSubmodules(inTree: GitRunner, env: Record<string, string>): Promise<void> {
    const mode = this.entry.submodules;
    if (mode === 'off' || !(await stat(join(inTree.cwd, '.gitmodules')).then(() => true, () => false))) return;
    // Relative submodule URLs resolve against remote.origin.url, which names the entry's repo.
    await inTree.run(['submodule', 'update', '--init', '--recursive', ...(mode === 'shallow' ? ['--depth=1'] : [])], this.opts(env));
  }

  /** Keep the last `keep` published trees (newest first); retire the rest after staleAfter. */
  private rememberPrevious(commit: string): void {
    this.kept = [commit, ...this.kept.filter((c) => c !== commit)];
    for (const old of this.kept.slice(this.entry.keep)) this.retireLater(old);
    this.kept = this.kept.slice(0, this.entry.keep);
  }

  private async gcIfCluttered(git: GitRunner): Promise<void> {
    await this.forgetDepartedMembers(git);
    const out = await git.run(['count-objects', '-v'], this.opts());
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
    if (field('count') > LOOSE_OBJECTS_LIMIT || field('packs') > PACKS_LIMIT) {
      await git.run(['gc', '--quiet', '--prune=now'], this.opts());
      this.log.debug('collected garbage', { looseObjects: field('count'), packs: field('packs') });
    }
  }

  private async collectGarbage(git: GitRunner): Promise<void> {
    const gc = this.entry.gc;
    // "auto" runs when replaced trees are removed (removeTree).
    if (gc !== 'always' && gc !== 'aggressive') return;
    await this.withStore(async () => {
      await this.forgetDepartedMembers(git);
      await git.run(['gc', ...(gc === 'aggressive' ? ['--aggressive'] : []), '--quiet', '--prune=now'], this.opts());
    });
  }

  /**
   * Say in the shared store which ref is ours and what it follows (see STORE_MEMBERS_DIR), so
   * that other entries' fetches bring our commits too. Written whole with one rename, so it
   * needs no lock.
   */
  private async registerMember(source: string): Promise<void> {
    if (this.store === null || source === this.memberSource) return;
    const dir = join(this.store.dir, STORE_MEMBERS_DIR);
    const file = join(dir, entryId(this.entry.name));
    await mkdir(dir, { recursive: true });
    await writeFile(`${file}.${process.pid}.tmp`, `${this.layout.stateDir}\n${this.targetRef}\n${source}\n`);
    await rename(`${file}.${process.pid}.tmp`, file);
    this.memberSource = source;
  }

  /** Refspecs that bring the other entries' refs along with ours (one fetch for the store). */
  private async membersRefspecs(): Promise<string[]> {
    if (this.store === null || this.soloFetch) return [];
    const dir = join(this.store.dir, STORE_MEMBERS_DIR);
    const own = entryId(this.entry.name);
    const specs: string[] = [];
    for (const id of await readdir(dir).catch(() => [] as string[])) {
      if (id === own || !MEMBER_ID.test(id)) continue;
      const [stateDir, ref, source] = (await readFile(join(dir, id), 'utf8').catch(() => '')).split('\n');
      // Only what we wrote ourselves: a full ref name to follow, into that entry's own ref.
      if (ref !== `refs/autosync/entries/${id}` || source === undefined || !MEMBER_SOURCE.test(source) || checkRefName(source) !== null) continue;
      if (stateDir === undefined || !(await stat(stateDir).then(() => true, () => false))) continue;
      specs.push(`+${source}:${ref}`);
    }
    return specs;
  }

  /**
   * Under the store's lock: the commit to publish. In a shared store, when another entry's
   * fetch already brought the commit the remote showed us, that fetched ref is used as is;
   * otherwise one fetch brings our ref and the other entries' refs together.
   */
  private async fetchOrReuse(git: GitRunner, target: RemoteTarget, env: Record<string, string>): Promise<string> {
    if (this.store === null) return this.fetch(git, target.source, env);
    if (target.seen !== null) {
      const have = (await git.run(['rev-parse', '--verify', '--quiet', `${this.targetRef}^{commit}`], this.opts()).catch(() => '')).trim();
      if (have === target.seen) {
        this.log.debug('commit already fetched into the shared store by another entry', { commit: have });
        return have;
      }
    }
    const others = await this.membersRefspecs();
    let commit: string;
    try {
      commit = await this.fetch(git, target.source, env, others);
    } catch (err) {
      // Another entry's ref may be gone from the remote: that must never fail this entry.
      if (others.length === 0 || !(err instanceof SyncError) || err.kind !== 'invalid-ref') throw err;
      this.soloFetch = true;
      this.log.info('fetching only this entry\'s ref; a ref of another entry of the shared store is not on the remote', {});
      commit = await this.fetch(git, target.source, env);
    }
    return commit;
  }

  /**
   * Drop the refs of entries whose state folder is gone (pruned, or moved to another store), so
   * gc can collect their objects; called holding the store's lock.
   */
  private async forgetDepartedMembers(git: GitRunner): Promise<void> {
    if (this.store === null) return;
    const dir = join(this.store.dir, STORE_MEMBERS_DIR);
    for (const id of await readdir(dir).catch(() => [] as string[])) {
      if (!MEMBER_ID.test(id)) continue;
      const [stateDir, ref] = (await readFile(join(dir, id), 'utf8').catch(() => '')).split('\n');
      if (stateDir === undefined || !stateDir.startsWith('/') || (await stat(stateDir).then(() => true, () => false))) continue;
      if (ref === `refs/autosync/entries/${id}`) await git.run(['update-ref', '-d', ref], this.opts()).catch(() => undefined);
      await rm(join(dir, id), { force: true });
      this.log.info('dropped a departed entry\'s ref from the shared object store', { ref });
    }
  }

  /** An entry that joined a shared store no longer needs the repository it had on its own. */
  private async dropOwnRepoOnceShared(): Promise<void> {
    if (this.store === null || !(await stat(this.layout.gitDir).then(() => true, () => false))) return;
    await rm(this.layout.gitDir, { recursive: true, force: true });
    this.log.info('now fetching into the shared object store; removed this entry\'s own repository', { store: this.store.dir });
  }

  /** The pre-publish hook's veto: the tree is never published and the commit not retried. */
  private async prePublish(tree: string, commit: string): Promise<void> {
    const hook = this.entry.hooks.prePublish;
    if (hook === undefined) return;
    const outcome = await runCommand(hook.command, hook.timeoutMs, tree, hookEnv(this.entry, commit), this.log, 'pre-publish');
    if (outcome.ok) return;
    this.vetoed = commit;
    this.retireLater(commit);
    throw new VetoError(commit, `pre-publish hook vetoed ${commit.slice(0, 12)} (${outcome.message}); the previous tree stays published`);
  }

  /** Refuse to publish over anything we did not make, unless it is the original tool's clone of this repo. */
  private async refuseForeign(published: PublishedState): Promise<void> {
    const p = this.layout.path;
    if (published.kind === 'foreign') {
      throw new SyncError('local-state', `${p} is ${published.what}; git-autosync will not replace it. Move it away or choose another path`);
    }
    if (published.kind === 'directory') {
      const url = await this.runner(p).run(['config', '--get', 'remote.origin.url'], this.opts()).catch(() => '');
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
    if (this.gitDirChecked) return this.repo();
    return this.checkRepo();
  }

  private async makeStateDir(): Promise<void> {
    const { worktreesDir } = this.layout;
    await mkdir(worktreesDir, { recursive: true }).catch((err) => {
      throw localError(`cannot create ${worktreesDir}`, err);
    });
  }

  /** Check the repository (ours, or the shared store holding its lock); re-create it when damaged. */
  private async checkRepo(): Promise<GitRunner> {
    const gitDir = this.gitDir;
    const git = this.runner(this.layout.stateDir);
    const healthy = await stat(join(gitDir, 'HEAD')).then(
      () => this.repo().run(['rev-parse', '--is-bare-repository'], this.opts()).then((out) => out.trim() === 'true'),
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
      await git.run(['init', '--bare', '--quiet', '--template=', gitDir], this.opts());
      // A fresh repository gets its settings in one write instead of one git process each.
      await appendFile(join(gitDir, 'config'), configBlock(this.wantedConfig()));
    }
    const bare = this.repo();
    if (healthy) await this.configureRemote(bare); // the entry may have changed since
    this.gitDirChecked = true;
    return bare;
  }

  /**
   * Settings that follow the entry (checked once per agent, so a changed entry applies at
   * restart): the remote (relative submodule URLs and partial clones need it by name), the
   * partial-clone filter, gc and file-mode policy.
   */
  private wantedConfig(): Record<string, string | null> {
    const e = this.entry;
    const wanted: Record<string, string | null> = {
      // A shared store records one spelling of the URL, so its entries do not rewrite it in turn.
      'remote.origin.url': this.store?.url ?? e.repo,
      'remote.origin.promisor': e.filter === null ? null : 'true',
      'remote.origin.partialclonefilter': e.filter,
      // gc is ours to run (see gcIfCluttered): git's own auto-gc would also run inside commands.
      'gc.auto': e.gc === 'off' ? '0' : null,
      'core.sharedRepository': e.fileMode === 'group-write' ? 'group' : null,
    };
    if (this.entry.publish === 'symlink') {
      // We are the only writer and never run gc beside another command: unreachable objects
      // can go at once, which keeps disk flat over thousands of syncs.
      Object.assign(wanted, { 'gc.pruneExpire': 'now', 'gc.worktreePruneExpire': 'now', 'core.logAllRefUpdates': 'false' });
    }
    return wanted;
  }

  private async configureRemote(git: GitRunner): Promise<void> {
    const wanted = this.wantedConfig();
    // One read, and writes only for what differs: a restart usually spawns no git here at all.
    const current = new Map<string, string>();
    const listed = await git.run(['config', '--local', '--null', '--list'], this.opts()).catch(() => '');
    for (const item of listed.split('\0')) {
      const nl = item.indexOf('\n');
      if (nl > 0) current.set(item.slice(0, nl).toLowerCase(), item.slice(nl + 1));
    }
    for (const [key, value] of Object.entries(wanted)) {
      const have = current.get(key.toLowerCase());
      if (value === null && have !== undefined) await git.run(['config', '--unset-all', key], this.opts()).catch(() => '');
      else if (value !== null && have !== value) await git.run(['config', key, value], this.opts());
    }
  }

  /** True when `tree` is already a complete checkout of `commit` (e.g. the link was deleted). */
  private async isCheckoutOf(tree: string, commit: string): Promise<boolean> {
    const exists = await stat(join(tree, '.git')).then(() => true, () => false);
    if (!exists) return false;
    const head = await this.runner(tree).run(['rev-parse', 'HEAD'], this.opts()).catch(() => '');
    if (head.trim() !== commit) return false;
    const dirty = await this.runner(tree).run(['status', '--porcelain', '--untracked-files=no'], this.opts()).catch(() => 'x');
    return dirty.trim() === '';
  }

  // ---- in-place mode ------------------------------------------------------------------------

  private async inPlaceHead(): Promise<string | null> {
    if (!(await stat(join(this.layout.path, '.git')).then(() => true, () => false))) return null;
    const head = await this.runner(this.layout.path).run(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], this.opts()).catch(() => '');
    return /^[0-9a-f]{40,64}$/.test(head.trim()) ? head.trim() : null;
  }

  private async syncInPlace(): Promise<SyncOutcome> {
    const git = await this.inPlaceRepo();
    const previous = await this.inPlaceHead();
    const creds = await loadCredentials(this.entry, this.layout.secretsDir);
    const env = creds.env;
    const target = await this.resolveRemote(previous === null ? null : git, creds);
    if (previous !== null && target.seen === previous) {
      return { result: 'unchanged', commit: previous, tree: this.layout.path, previousCommit: previous, fetched: false };
    }
    const commit = await this.fetch(git, target.source, env);
    // Not atomic by design: readers can see a mix while files are rewritten.
    await git.run(['reset', '--hard', '--quiet', commit], this.opts(env));
    await git.run(['clean', '-ffd', '--quiet'], this.opts());
    await this.updateSubmodules(git, env);
    return { result: previous === commit ? 'unchanged' : 'synced', commit, tree: this.layout.path, previousCommit: previous, fetched: true };
  }

  private async inPlaceRepo(): Promise<GitRunner> {
    const { path, stateDir } = this.layout;
    if (this.gitDirChecked) return this.runner(path);
    await mkdir(path, { recursive: true }).catch((err) => {
      throw localError(`cannot create ${path}`, err);
    });
    const git = this.runner(path);
    const marker = join(stateDir, OWNER_MARKER);
    const hasGit = await stat(join(path, '.git')).then(() => true, () => false);
    if (!hasGit) {
      if ((await readdir(path)).length > 0) {
        throw new SyncError('local-state', `${path} is a non-empty directory that is not a git clone; git-autosync will not overwrite it. Empty it or choose another path`);
      }
      await git.run(['init', '--quiet'], this.opts());
    } else if (!(await stat(marker).then(() => true, () => false))) {
      const url = (await git.run(['config', '--get', 'remote.origin.url'], this.opts()).catch(() => '')).trim();
      if (!sameRemote(url, this.entry.repo)) {
        throw new SyncError('local-state', `${path} is a clone of another repository; git-autosync will not overwrite it. Empty it or choose another path`);
      }
    }
    // From now on this clone is ours, whatever URL the entry names later.
    await mkdir(stateDir, { recursive: true });
    await writeFile(marker, 'managed by git-autosync\n');
    await this.configureRemote(git);
    this.gitDirChecked = true;
    return git;
  }

  // ---- shared steps -------------------------------------------------------------------------

  /** Find the remote commit with one ls-remote; `git` null skips the call (nothing to compare). */
  private async resolveRemote(git: GitRunner | null, creds: Credentials): Promise<RemoteTarget> {
    const ref = this.entry.ref;
    if (ref !== null && isFullSha(ref)) return { source: ref, seen: ref }; // pinned: never polled
    if (git === null) return { source: this.fetchSource(), seen: null };
    const patterns = ref === null ? ['HEAD'] : ref.startsWith('refs/') ? [ref, `${ref}^{}`] : [`refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`];
    const refs = await this.listRemoteRefs(git, creds, patterns);
    const candidates = ref === null ? ['HEAD'] : ref.startsWith('refs/') ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`];
    for (const name of candidates) {
      const sha = refs.get(`${name}^{}`) ?? refs.get(name);
      if (sha !== undefined) return { source: name, seen: sha };
    }
    throw new SyncError('invalid-ref', `ref "${ref ?? 'HEAD'}" was not found on ${displayUrl(this.entry.repo)}`);
  }

  /**
   * The remote's refs for `patterns`: asked in process when the transport allows (no process
   * spawned for an unchanged poll), else, or when the probe cannot tell, by `git ls-remote`.
   */
  private async listRemoteRefs(git: GitRunner, creds: Credentials, patterns: string[]): Promise<Map<string, string>> {
    const prober = this.prober();
    let probeFailure: string | null = null;
    if (prober !== null) {
      const result = await prober({ url: this.entry.repo, prefixes: patterns.filter((p) => !p.endsWith('^{}')), auth: creds.httpAuth, timeoutMs: Math.min(this.entry.timeoutMs, 30_000) });
      if ('refs' in result) return result.refs;
      probeFailure = result.unknown;
    }
    const out = await git.run(['ls-remote', '--end-of-options', this.entry.repo, ...patterns], this.opts(creds.env));
    if (probeFailure !== null) {
      // git could answer where the probe could not: after a few such polls, leave it to git.
      this.probeMisses += 1;
      this.log.debug('in-process ref probe failed; git ls-remote answered', { reason: probeFailure, misses: this.probeMisses });
      if (this.probeMisses >= PROBE_MISSES_ALLOWED) this.log.info('in-process ref probe disabled for this repo; polling with git ls-remote', { reason: probeFailure });
    }
    const refs = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [sha, name] = line.split('\t');
      if (sha !== undefined && name !== undefined) refs.set(name, sha);
    }
    return refs;
  }

  /** The probe for this entry's transport, or null where only git can ask (ssh, proxies, TLS settings). */
  private prober(): ((t: ProbeTarget) => Promise<ProbeResult>) | null {
    if (this.probeMisses >= PROBE_MISSES_ALLOWED) return null;
    const t = this.entry.transport;
    if (t === 'git') return probeGit;
    if (t !== 'http' && t !== 'https') return null;
    // git would go through a proxy or use TLS settings the probe does not know: let git ask.
    const proxied = ['HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'https_proxy', 'http_proxy', 'all_proxy'].some((k) => (process.env[k] ?? '') !== '');
    if (proxied || this.entry.gitConfig.some((kv) => /^https?\./i.test(kv))) return null;
    // A CA bundle named for OpenSSL (and so for git) is the probe's too; a CA folder is not supported.
    const caFile = process.env.SSL_CERT_FILE;
    if (t === 'https' && !caFile && process.env.SSL_CERT_DIR) return null;
    this.httpProber ??= new HttpProber(t === 'https', t === 'https' ? caFile : undefined);
    const p = this.httpProber;
    return (target) => p.probe(target);
  }

  private fetchSource(): string {
    const ref = this.entry.ref;
    if (ref === null) return 'HEAD';
    if (ref.startsWith('refs/') || isFullSha(ref)) return ref;
    // Without ls-remote we cannot tell a branch from a tag; git's own rules (refs/heads first, then refs/tags) pick it.
    return ref;
  }

  /** Fetch `source` and return exactly the commit fetched (FETCH_HEAD), never a hash read earlier. */
  private async fetch(git: GitRunner, source: string, env: Record<string, string>, alsoRefspecs: string[] = []): Promise<string> {
    const args = ['fetch', '--no-tags', '--no-recurse-submodules', '--quiet'];
    if (this.entry.depth > 0) args.push(`--depth=${this.entry.depth}`);
    else if (await stat(join(this.gitDir, 'shallow')).then(() => true, () => false)) args.push('--unshallow');
    if (this.entry.filter !== null) args.push(`--filter=${this.entry.filter}`);
    // Through the remote named origin (its URL is the entry's): partial clones fetch missing
    // objects from it later, and relative submodule URLs resolve against it.
    // Ours first: FETCH_HEAD's first line, read below, is then our commit.
    args.push('--end-of-options', 'origin', `+${source}:${this.targetRef}`, ...alsoRefspecs);
    const started = Date.now();
    await git.run(args, this.opts(env));
    // Holding the store's lock, our ref is exactly what this fetch wrote (with other entries'
    // refs fetched along, FETCH_HEAD has several lines).
    const fetched = alsoRefspecs.length === 0 ? 'FETCH_HEAD' : this.targetRef;
    const commit = (await git.run(['rev-parse', '--verify', `${fetched}^{commit}`], this.opts())).trim();
    if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new SyncError('git', `unexpected FETCH_HEAD: ${commit.slice(0, 80)}`);
    this.log.debug('fetched', { commit, refs: 1 + alsoRefspecs.length, durationMs: Date.now() - started });
    return commit;
  }

  private opts(env?: Record<string, string>): { timeoutMs: number; env?: Record<string, string> } {
    return env === undefined ? { timeoutMs: this.entry.timeoutMs } : { timeoutMs: this.entry.timeoutMs, env };
  }

  // ---- removal of replaced trees ------------------------------------------------------------

  private retireLater(commit: string): void {
    if (this.closed || this.retiring.has(commit)) return;
    const timer = setTimeout(() => {
      this.retiring.delete(commit);
      void this.exclusive(() => this.removeTree(commit)).catch((err: unknown) =>
        this.log.warn('could not remove a replaced tree', { commit, error: (err as Error).message }),
      );
    }, this.entry.staleAfterMs);
    timer.unref();
    this.retiring.set(commit, timer);
  }

  private cancelRetirement(commit: string): void {
    const t = this.retiring.get(commit);
    if (t !== undefined) clearTimeout(t);
    this.retiring.delete(commit);
  }

  private async removeTree(commit: string): Promise<void> {
    const published = await readPublished(this.layout);
    if (published.kind === 'ours' && published.commit === commit) return; // republished meanwhile
    await rm(worktreeDir(this.layout, commit), { recursive: true, force: true });
    const git = this.repo();
    await this.withStore(async () => {
      await git.run(['worktree', 'prune'], this.opts()).catch(() => undefined);
      // The replaced commit's objects are now unreachable. Off the hot path (when a tree is
      // retired, never during a poll) we count loose objects and packs, and past a small bound
      // collect them (gc.pruneExpire=now): disk stays flat. git's own gc --auto only samples one
      // object folder, which lets the count drift far past its threshold.
      if (this.entry.gc === 'auto') await this.gcIfCluttered(git).catch(() => undefined);
    });
    this.log.debug('removed replaced tree', { commit });
  }

  private async retireAsideLater(): Promise<void> {
    const aside = await readdir(this.layout.asideDir).catch(() => [] as string[]);
    if (aside.length === 0 || this.closed) return;
    const timer = setTimeout(() => {
      void this.exclusive(async () => {
        for (const name of aside) await rm(join(this.layout.asideDir, name), { recursive: true, force: true });
      });
    }, this.entry.staleAfterMs);
    timer.unref();
  }
}

/** A ref-safe, stable id for an entry's name. */
function entryId(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 16);
}

/** Settings as git config file text, for keys "section.name" or "section.sub.name". */
export function configBlock(settings: Record<string, string | null>): string {
  const sections = new Map<string, string[]>();
  for (const [key, value] of Object.entries(settings)) {
    if (value === null) continue;
    const parts = key.split('.');
    const name = parts.pop()!;
    const header = parts.length === 1 ? `[${parts[0]}]` : `[${parts[0]} "${parts.slice(1).join('.')}"]`;
    const quoted = `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    sections.set(header, [...(sections.get(header) ?? []), `\t${name} = ${quoted}`]);
  }
  return [...sections].map(([h, lines]) => `${h}\n${lines.join('\n')}\n`).join('');
}

/** The same remote, spelled either way: case of scheme and host, trailing slash or ".git". */
export function sameRemote(a: string, b: string): boolean {
  return a !== '' && remoteIdentity(a) === remoteIdentity(b);
}
