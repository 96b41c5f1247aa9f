// The symlink publisher (the default, atomic): each commit is checked out into its own worktree
// and shown by renaming a fresh relative symlink over `path`; replaced trees are retired.

import type { ResolvedEntry } from '../../shared/listing-schema.js';
import { worktreeDir, type Layout } from '../../shared/layout.js';
import type { Log } from '../../shared/log.js';
import type { Checkouts } from '../checkout.js';
import type { EntryGit } from '../entry-git.js';
import { readPublished, refuseForeign, swapLink, type PublishedState } from '../publish.js';
import type { Retirement } from '../retire.js';
import type { Repository } from '../repositories/repository.js';
import { TreesBesidePath } from './beside.js';
import type { Published, Publisher } from './publisher.js';

export class SymlinkPublisher extends TreesBesidePath implements Publisher {
  /** What `path` held when current() last looked: a directory there is moved aside by the swap. */
  private seen: PublishedState = { kind: 'absent' };

  constructor(
    private readonly entry: ResolvedEntry,
    layout: Layout,
    private readonly log: Log,
    private readonly git: EntryGit,
    private readonly repository: Repository,
    private readonly checkouts: Checkouts,
    retirement: Retirement,
  ) {
    super(layout, retirement);
  }

  async adopt(): Promise<string | null> {
    const published = await readPublished(this.layout).catch(() => ({ kind: 'absent' }) as const);
    const current = published.kind === 'ours' && published.healthy ? published.commit : null;
    await this.retirement.adoptLeftovers(current, (c) => this.checkouts.isCheckoutOf(worktreeDir(this.layout, c), c));
    return current;
  }

  async current(): Promise<Published> {
    const published = await readPublished(this.layout);
    await refuseForeign(published, this.layout, this.entry, this.git, this.log);
    this.seen = published;
    return published.kind === 'ours' ? { commit: published.commit, whole: published.healthy } : { commit: null, whole: false };
  }

  treeOf(commit: string): string {
    return worktreeDir(this.layout, commit);
  }

  async stage(commit: string, env: Record<string, string>): Promise<string> {
    const tree = this.treeOf(commit);
    this.retirement.cancelRetirement(commit);
    // A whole tree of this commit may be on disk already (the link was deleted, a kept tree).
    if (!(await this.checkouts.isCheckoutOf(tree, commit))) await this.checkouts.create(this.repository.runner(), tree, commit, env);
    return tree;
  }

  async publish(commit: string, _tree: string, before: Published): Promise<void> {
    const { movedAside, gap } = await swapLink(this.layout, commit, this.seen);
    if (gap) this.log.warn('this filesystem cannot exchange two paths in one call: the directory at path was renamed aside, then the link in, and path was missing for that instant', { path: this.layout.path });
    // A previous tree that is gone (its link dangled) cannot be kept for anyone.
    if (before.whole && before.commit !== null && before.commit !== commit) this.retirement.rememberPrevious(before.commit);
    if (movedAside !== null) await this.retirement.retireAsideLater();
    await this.retirement.collectGarbage();
  }

}
