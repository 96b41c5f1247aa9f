// Removing what a publish replaced: trees past the newest `keep`, once readers are done with
// them (after staleAfter), folders moved aside, and the objects only those trees needed (gc).

import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { worktreeDir, type Layout } from '../shared/layout.js';
import type { Log } from '../shared/log.js';
import type { EntryGit } from './entry-git.js';
import type { Holds } from './holds.js';
import type { GitRunner } from './git.js';
import { readPublished } from './publish.js';
import type { Repository } from './repositories/repository.js';

// Past these, replaced commits' objects are collected (gc "auto").
const LOOSE_OBJECTS_LIMIT = 256;
const PACKS_LIMIT = 20;

/** Runs `fn` after everything queued before it (RepoSync's queue): removals never overlap a sync. */
export type Exclusive = (fn: () => Promise<void>) => Promise<void>;

export class Retirement {
  private readonly retiring = new Map<string, NodeJS.Timeout>();
  private closed = false;
  /** Previously published commits still on disk (`keep`), newest first. */
  private keptCommits: string[] = [];

  constructor(
    private readonly entry: ResolvedEntry,
    private readonly layout: Layout,
    private readonly log: Log,
    private readonly git: EntryGit,
    private readonly repository: Repository,
    private readonly exclusive: Exclusive,
    /** Called before a tree is deleted, to drop what records it (exchange mode's tree record). */
    private readonly forget: (commit: string) => Promise<void> = async () => undefined,
    /** Trees a group's generation still links (group members): removed only once let go. */
    private readonly holds: Holds | null = null,
  ) {}

  /** Previously published commits still on disk (`keep`), newest first. */
  get kept(): string[] {
    return [...this.keptCommits];
  }

  /**
   * At start, for the trees on disk other than the published `current`: keep or retire each.
   * `complete` tells a whole checkout from one a crash interrupted (never published, never kept).
   */
  async adoptLeftovers(current: string | null, complete: (commit: string) => Promise<boolean>): Promise<void> {
    // Trees left by a crash mid-checkout, or whose removal timer died with the old agent.
    const leftovers = (await readdir(this.layout.worktreesDir).catch(() => [] as string[])).filter((c) => c !== current);
    // The newest `keep` whole ones were published before and stay; the rest go after staleAfter.
    const byAge = await Promise.all(
      leftovers.map(async (c) => ({ c, t: await stat(worktreeDir(this.layout, c)).then((s) => s.mtimeMs, () => 0) })),
    );
    byAge.sort((a, b) => b.t - a.t);
    this.keptCommits = [];
    for (const { c } of byAge) {
      if (this.keptCommits.length < this.entry.keep && (await complete(c))) this.keptCommits.push(c);
      else this.retireLater(c);
    }
    await this.retireAsideLater();
  }

  /** Keep the last `keep` published trees (newest first); retire the rest after staleAfter. */
  rememberPrevious(commit: string): void {
    this.keptCommits = [commit, ...this.keptCommits.filter((c) => c !== commit)];
    for (const old of this.keptCommits.slice(this.entry.keep)) this.retireLater(old);
    this.keptCommits = this.keptCommits.slice(0, this.entry.keep);
  }

  retireLater(commit: string): void {
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

  cancelRetirement(commit: string): void {
    const t = this.retiring.get(commit);
    if (t !== undefined) clearTimeout(t);
    this.retiring.delete(commit);
  }

  async retireAsideLater(): Promise<void> {
    const aside = await readdir(this.layout.asideDir).catch(() => [] as string[]);
    if (aside.length === 0 || this.closed) return;
    const key = `aside:${aside.join('/')}`;
    if (this.retiring.has(key)) return;
    const timer = setTimeout(() => {
      this.retiring.delete(key);
      void this.exclusive(async () => {
        for (const name of aside) await rm(join(this.layout.asideDir, name), { recursive: true, force: true });
      }).catch((err: unknown) => this.log.warn('could not remove a folder moved aside', { error: (err as Error).message }));
    }, this.entry.staleAfterMs);
    timer.unref();
    // Kept with the trees' timers, so close() clears it too.
    this.retiring.set(key, timer);
  }

  /** After a publish: collect at once when the entry asks for gc "always" or "aggressive". */
  async collectGarbage(): Promise<void> {
    const gc = this.entry.gc;
    // "auto" runs when replaced trees are removed (removeTree).
    if (gc !== 'always' && gc !== 'aggressive') return;
    const git = this.repository.runner();
    await this.repository.withLock(async () => {
      await this.repository.beforeGc(git);
      await git.run(['gc', ...(gc === 'aggressive' ? ['--aggressive'] : []), '--quiet', '--prune=now'], this.git.opts());
    });
  }

  /** Stop timers; trees waiting for removal are cleaned by the next agent's prepare(). */
  close(): void {
    this.closed = true;
    for (const t of this.retiring.values()) clearTimeout(t);
    this.retiring.clear();
  }

  private async removeTree(commit: string): Promise<void> {
    const published = await readPublished(this.layout);
    if (published.kind === 'ours' && published.commit === commit) return; // republished meanwhile
    // A reader that resolved the group's link before its last swap may be reading this tree.
    if (this.holds?.has(commit) === true) {
      this.holds.defer(commit, () =>
        void this.exclusive(() => this.removeTree(commit)).catch((err: unknown) => this.log.warn('could not remove a replaced tree', { commit, error: (err as Error).message })),
      );
      return;
    }
    await this.forget(commit);
    await rm(worktreeDir(this.layout, commit), { recursive: true, force: true });
    const git = this.repository.runner();
    await this.repository.withLock(async () => {
      await git.run(['worktree', 'prune'], this.git.opts()).catch(() => undefined);
      // The replaced commit's objects are now unreachable. Off the hot path (when a tree is
      // retired, never during a poll) we count loose objects and packs, and past a small bound
      // collect them (gc.pruneExpire=now): disk stays flat. git's own gc --auto only samples one
      // object folder, which lets the count drift far past its threshold.
      if (this.entry.gc === 'auto') await this.gcIfCluttered(git).catch(() => undefined);
    });
    this.log.debug('removed replaced tree', { commit });
  }

  private async gcIfCluttered(git: GitRunner): Promise<void> {
    await this.repository.beforeGc(git);
    const out = await git.run(['count-objects', '-v'], this.git.opts());
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
    if (field('count') > LOOSE_OBJECTS_LIMIT || field('packs') > PACKS_LIMIT) {
      await git.run(['gc', '--quiet', '--prune=now'], this.git.opts());
      this.log.debug('collected garbage', { looseObjects: field('count'), packs: field('packs') });
    }
  }
}
