// Filling a folder with one commit's files: a worktree of the repository (sparse when asked),
// submodules as the entry asks, and whether a folder already holds a clean checkout.

import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { EntryGit } from './entry-git.js';
import type { GitRunner } from './git.js';
import type { StoreAccess } from './shared-store.js';

export class Checkouts {
  constructor(
    private readonly entry: ResolvedEntry,
    private readonly git: EntryGit,
    private readonly shared: StoreAccess,
  ) {}

  /** A fresh worktree of `commit` at `tree`: sparse when asked, submodules as asked. */
  async create(repo: GitRunner, tree: string, commit: string, env: Record<string, string>): Promise<void> {
    await rm(tree, { recursive: true, force: true });
    // Registering a worktree is not safe beside another `worktree add` or prune in the same
    // repository (git reads the others' half-written admin folders): it takes the store's
    // lock, and adds no files. Filling the tree, the slow part, then runs side by side.
    await this.shared.withStore(async () => {
      // Only when git has worktrees registered (none on a first sync).
      if ((await readdir(join(this.git.gitDir, 'worktrees')).catch(() => [])).length > 0) await repo.run(['worktree', 'prune'], this.git.opts());
      await repo.run(['worktree', 'add', '--quiet', '--detach', '--force', '--no-checkout', tree, commit], this.git.opts());
    });
    const inTree = this.git.runner(tree);
    // Directories were validated (relative, no leading "-"), so they are safe as arguments.
    if (this.entry.sparse !== null) await inTree.run(['sparse-checkout', 'set', '--cone', ...this.entry.sparse], this.git.opts(env));
    // Credentials too: a partial clone fetches the blobs it checks out from the remote.
    await inTree.run(['reset', '--hard', '--quiet', commit], this.git.opts(env));
    await this.updateSubmodules(inTree, env);
  }

  async updateSubmodules(inTree: GitRunner, env: Record<string, string>): Promise<void> {
    const mode = this.entry.submodules;
    if (mode === 'off' || !(await stat(join(inTree.cwd, '.gitmodules')).then(() => true, () => false))) return;
    // Relative submodule URLs resolve against remote.origin.url, which names the entry's repo.
    await inTree.run(['submodule', 'update', '--init', '--recursive', ...(mode === 'shallow' ? ['--depth=1'] : [])], this.git.opts(env));
  }

  /** True when `tree` is already a complete checkout of `commit` (e.g. the link was deleted). */
  async isCheckoutOf(tree: string, commit: string): Promise<boolean> {
    const exists = await stat(join(tree, '.git')).then(() => true, () => false);
    if (!exists) return false;
    const head = await this.git.runner(tree).run(['rev-parse', 'HEAD'], this.git.opts()).catch(() => '');
    if (head.trim() !== commit) return false;
    const dirty = await this.git.runner(tree).run(['status', '--porcelain', '--untracked-files=no'], this.git.opts()).catch(() => 'x');
    return dirty.trim() === '';
  }
}
