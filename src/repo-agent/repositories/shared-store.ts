// An object store shared by the entries of one remote: its lock, each entry's registration in
// it, and the refs that let one entry's fetch bring the others' commits too.

import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SyncError } from '../../shared/errors.js';
import type { ResolvedEntry, SharedStore } from '../../shared/listing-schema.js';
import { readStoreMembers, STORE_MEMBERS_DIR, storeMemberText, type Layout } from '../../shared/layout.js';
import type { Log } from '../../shared/log.js';
import { checkRefName } from '../../shared/ref-and-url.js';
import type { Credentials } from '../credentials.js';
import type { EntryGit } from '../entry-git.js';
import type { GitRunner } from '../git.js';
import { localError } from '../publish.js';
import type { Remote, RemoteTarget } from '../remote.js';
import { removeStaleLocks } from '../repair.js';
import { wantedConfig } from '../repo-config.js';
import { acquireStoreLock } from '../store-lock.js';
import { makeStateDir, openBare } from './own.js';
import type { Repository } from './repository.js';

// A member file's name: entryId() of the entry's name.
const isMemberId = (name: string) => /^[0-9a-f]{16}$/.test(name);
// What another entry's fetch may follow for us: the remote's HEAD or a full ref name (no sha).
const MEMBER_SOURCE = /^(HEAD|refs\/[A-Za-z0-9._/-]+)$/;

/** A ref-safe, stable id for an entry's name. */
function entryId(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 16);
}

/** The ref of the member with id `id` in a shared store. */
function refOf(id: string): string {
  return `refs/autosync/entries/${id}`;
}

/** The ref an entry's fetched commits are kept at in a shared store (one per entry). */
export function memberRef(entryName: string): string {
  return refOf(entryId(entryName));
}

export class SharedStoreRepository implements Repository {
  readonly targetRef: string;
  /** Set once the store was checked in this process (holding its lock); cleared when git reports damage. */
  private checked = false;
  /** The full ref name we fetch (recorded for the other entries' fetches). */
  private memberSource: string | null = null;
  /** Set once a fetch with the other entries' refs failed on one of them: fetch ours alone. */
  private soloFetch = false;
  /** The shared store's stale git locks are removed once, the first time we hold its lock. */
  private storeRepaired = false;

  constructor(
    private readonly entry: ResolvedEntry,
    private readonly store: SharedStore,
    private readonly layout: Layout,
    private readonly log: Log,
    private readonly git: EntryGit,
  ) {
    this.targetRef = memberRef(entry.name);
  }

  get gitDir(): string {
    return this.store.dir;
  }

  /** Our own repository too: the one we had before the store existed, removed once we fetch into the store. */
  get folders(): readonly string[] {
    return [this.layout.gitDir, dirname(this.store.dir), this.store.dir];
  }

  /** git runs in our own folder, where a restarted agent looks for leftover processes, and GIT_DIR names the store. */
  runner(): GitRunner {
    return this.git.runner(this.layout.stateDir, this.store.dir);
  }

  /** The store's locks and partial objects may be another agent's: they are cleared under its lock. */
  async heal(): Promise<void> {}

  async sweepAbandonedFetch(): Promise<void> {}

  /** The store itself is checked holding its lock, when fetching: here only our own folder is made. */
  async open(): Promise<void> {
    if (!this.checked) await makeStateDir(this.layout);
  }

  async resolve(remote: Remote, creds: Credentials): Promise<RemoteTarget> {
    // The store may not exist yet: ask the remote from our own folder, and say what we follow
    // before queueing for the store, so that whichever entry fetches first brings ours too.
    const target = await remote.resolve(this.git.runner(this.layout.stateDir), creds);
    await this.registerMember(target.source);
    return target;
  }

  /**
   * Under the store's lock: the commit to publish. When another entry's fetch already brought
   * the commit the remote showed us, that fetched ref is used as is; otherwise one fetch brings
   * our ref and the other entries' refs together.
   */
  fetch(remote: Remote, target: RemoteTarget, env: Record<string, string>): Promise<string> {
    return this.withLock(async () => {
      if (!this.checked) await this.check();
      const git = this.runner();
      if (target.seen !== null) {
        const have = (await git.run(['rev-parse', '--verify', '--quiet', `${this.targetRef}^{commit}`], this.git.opts()).catch(() => '')).trim();
        if (have === target.seen) {
          this.log.debug('commit already fetched into the shared store by another entry', { commit: have });
          return have;
        }
      }
      const into = { git, gitDir: this.gitDir, targetRef: this.targetRef };
      const others = await this.membersRefspecs();
      let commit: string;
      try {
        commit = await remote.fetch(into, target.source, env, others);
      } catch (err) {
        // Another entry's ref may be gone from the remote: that must never fail this entry.
        if (others.length === 0 || !(err instanceof SyncError) || err.kind !== 'invalid-ref') throw err;
        this.fetchOursAlone();
        commit = await remote.fetch(into, target.source, env);
      }
      return commit;
    });
  }

  /**
   * Run `fn` holding the shared store's lock: fetches, worktree registration and pruning, and
   * gc of one store never overlap. Polls take no lock, and neither does filling a worktree (it
   * only reads objects).
   */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const store = this.store;
    await mkdir(dirname(store.dir), { recursive: true }).catch((err) => {
      throw localError(`cannot create ${dirname(store.dir)}`, err);
    });
    // Long enough for another entry's fetch and gc, each bounded by its timeout.
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

  /**
   * Drop the refs of entries whose state folder is gone (pruned), so gc can collect their
   * objects; called holding the store's lock.
   */
  async beforeGc(git: GitRunner): Promise<void> {
    for (const [id, { stateDir, ref }] of await readStoreMembers(this.store.dir, isMemberId)) {
      if (!stateDir.startsWith('/') || (await stat(stateDir).then(() => true, () => false))) continue;
      if (ref === refOf(id)) await git.run(['update-ref', '-d', ref], this.git.opts()).catch(() => undefined);
      await rm(join(this.store.dir, STORE_MEMBERS_DIR, id), { force: true });
      this.log.info('dropped a departed entry\'s ref from the shared object store', { ref });
    }
  }

  /** An entry that joined a shared store no longer needs the repository it had on its own. */
  async afterPublish(): Promise<void> {
    if (!(await stat(this.layout.gitDir).then(() => true, () => false))) return;
    await rm(this.layout.gitDir, { recursive: true, force: true });
    this.log.info('now fetching into the shared object store; removed this entry\'s own repository', { store: this.store.dir });
  }

  recheck(): void {
    this.checked = false;
  }

  /** Check the store holding its lock; re-create it when damaged. */
  private async check(): Promise<void> {
    await openBare({
      git: this.git,
      gitDir: this.gitDir,
      bare: () => this.runner(),
      initFrom: this.git.runner(this.layout.stateDir),
      // A shared store records one spelling of the URL, so its entries do not rewrite it in turn.
      wanted: wantedConfig(this.entry, this.store.url, { soleWriter: true }),
      // A new store holds only the entries' registrations (see registerMember): keep them.
      keep: [STORE_MEMBERS_DIR],
      log: this.log,
    });
    this.checked = true;
  }

  /**
   * Say in the shared store which ref is ours and what it follows (see STORE_MEMBERS_DIR), so
   * that other entries' fetches bring our commits too. Written whole with one rename, so it
   * needs no lock.
   */
  private async registerMember(source: string): Promise<void> {
    if (source === this.memberSource) return;
    const dir = join(this.store.dir, STORE_MEMBERS_DIR);
    const file = join(dir, entryId(this.entry.name));
    await mkdir(dir, { recursive: true });
    await writeFile(`${file}.${process.pid}.tmp`, storeMemberText({ stateDir: this.layout.stateDir, ref: memberRef(this.entry.name), source }));
    await rename(`${file}.${process.pid}.tmp`, file);
    this.memberSource = source;
  }

  /** Refspecs that bring the other entries' refs along with ours (one fetch for the store). */
  private async membersRefspecs(): Promise<string[]> {
    if (this.soloFetch) return [];
    const own = entryId(this.entry.name);
    const specs: string[] = [];
    for (const [id, { stateDir, ref, source }] of await readStoreMembers(this.store.dir, isMemberId)) {
      // Only what we wrote ourselves: a full ref name to follow, into that entry's own ref.
      if (id === own || ref !== refOf(id) || !MEMBER_SOURCE.test(source) || checkRefName(source) !== null) continue;
      if (!(await stat(stateDir).then(() => true, () => false))) continue;
      specs.push(`+${source}:${ref}`);
    }
    return specs;
  }

  /** A fetch with the other entries' refs failed on one of theirs: from now on fetch ours alone. */
  private fetchOursAlone(): void {
    this.soloFetch = true;
    this.log.info('fetching only this entry\'s ref; a ref of another entry of the shared store is not on the remote', {});
  }
}
