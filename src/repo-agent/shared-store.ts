// An object store shared by the entries of one remote: its lock, each entry's registration in
// it, and the refs that let one entry's fetch bring the others' commits too.

import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ResolvedEntry, SharedStore } from '../shared/listing-schema.js';
import { readStoreMembers, STORE_MEMBERS_DIR, storeMemberText, type Layout } from '../shared/layout.js';
import type { Log } from '../shared/logger.js';
import { checkRefName } from '../shared/ref-and-url.js';
import type { EntryGit } from './entry-git.js';
import type { GitRunner } from './git.js';
import { localError } from './publish.js';
import { removeStaleLocks } from './repair.js';
import { acquireStoreLock } from './store-lock.js';

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

export class StoreAccess {
  /** The full ref name we fetch (recorded for the other entries' fetches). */
  private memberSource: string | null = null;
  /** Set once a fetch with the other entries' refs failed on one of them: fetch ours alone. */
  private soloFetch = false;
  /** The shared store's stale git locks are removed once, the first time we hold its lock. */
  private storeRepaired = false;

  /** `store` null: the entry has its own repository, and every method here is a no-op. */
  constructor(
    private readonly entry: ResolvedEntry,
    private readonly store: SharedStore | null,
    private readonly layout: Layout,
    private readonly log: Log,
    private readonly git: EntryGit,
  ) {}

  /**
   * Run `fn` holding the shared store's lock (directly when the store is our own): fetches,
   * worktree registration and pruning, and gc of one store never overlap. Polls take no lock,
   * and neither does filling a worktree (it only reads objects).
   */
  async withStore<T>(fn: () => Promise<T>): Promise<T> {
    const store = this.store;
    if (store === null) return fn();
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
   * Say in the shared store which ref is ours and what it follows (see STORE_MEMBERS_DIR), so
   * that other entries' fetches bring our commits too. Written whole with one rename, so it
   * needs no lock.
   */
  async registerMember(source: string): Promise<void> {
    if (this.store === null || source === this.memberSource) return;
    const dir = join(this.store.dir, STORE_MEMBERS_DIR);
    const file = join(dir, entryId(this.entry.name));
    await mkdir(dir, { recursive: true });
    await writeFile(`${file}.${process.pid}.tmp`, storeMemberText({ stateDir: this.layout.stateDir, ref: memberRef(this.entry.name), source }));
    await rename(`${file}.${process.pid}.tmp`, file);
    this.memberSource = source;
  }

  /** Refspecs that bring the other entries' refs along with ours (one fetch for the store). */
  async membersRefspecs(): Promise<string[]> {
    if (this.store === null || this.soloFetch) return [];
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
  fetchOursAlone(): void {
    this.soloFetch = true;
    this.log.info('fetching only this entry\'s ref; a ref of another entry of the shared store is not on the remote', {});
  }

  /**
   * Drop the refs of entries whose state folder is gone (pruned), so gc can collect their
   * objects; called holding the store's lock.
   */
  async forgetDepartedMembers(git: GitRunner): Promise<void> {
    if (this.store === null) return;
    for (const [id, { stateDir, ref }] of await readStoreMembers(this.store.dir, isMemberId)) {
      if (!stateDir.startsWith('/') || (await stat(stateDir).then(() => true, () => false))) continue;
      if (ref === refOf(id)) await git.run(['update-ref', '-d', ref], this.git.opts()).catch(() => undefined);
      await rm(join(this.store.dir, STORE_MEMBERS_DIR, id), { force: true });
      this.log.info('dropped a departed entry\'s ref from the shared object store', { ref });
    }
  }

  /** An entry that joined a shared store no longer needs the repository it had on its own. */
  async dropOwnRepoOnceShared(): Promise<void> {
    if (this.store === null || !(await stat(this.layout.gitDir).then(() => true, () => false))) return;
    await rm(this.layout.gitDir, { recursive: true, force: true });
    this.log.info('now fetching into the shared object store; removed this entry\'s own repository', { store: this.store.dir });
  }
}
