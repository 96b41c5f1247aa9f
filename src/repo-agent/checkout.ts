// Filling a folder with one commit's files: a worktree of the repository (sparse when asked),
// submodules as the entry asks, and whether a folder already holds a complete checkout.

import { lstat, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { EntryGit } from './entry-git.js';
import type { GitRunner } from './git.js';
import type { Repository } from './repositories/repository.js';

// Written into a worktree's admin folder (repo.git/worktrees/<id>/, never seen by readers) as
// the last step of create(): only a tree that got this far is whole. A failed attempt can leave
// a tree that looks clean to git (an uninitialised submodule is an empty folder that `git
// status` does not report), which must never be adopted or published.
const COMPLETE_MARKER = 'autosync-complete';

export class Checkouts {
  constructor(
    private readonly entry: ResolvedEntry,
    private readonly git: EntryGit,
    private readonly repository: Repository,
  ) {}

  /** A fresh worktree of `commit` at `tree`: sparse when asked, submodules as asked. */
  async create(repo: GitRunner, tree: string, commit: string, env: Record<string, string>): Promise<void> {
    await rm(tree, { recursive: true, force: true });
    // Registering a worktree is not safe beside another `worktree add` or prune in the same
    // repository (git reads the others' half-written admin folders): it takes the store's
    // lock, and adds no files. Filling the tree, the slow part, then runs side by side.
    await this.repository.withLock(async () => {
      // Only when git has worktrees registered (none on a first sync).
      if ((await readdir(join(this.repository.gitDir, 'worktrees')).catch(() => [])).length > 0) await repo.run(['worktree', 'prune'], this.git.opts());
      await repo.run(['worktree', 'add', '--quiet', '--detach', '--force', '--no-checkout', tree, commit], this.git.opts());
    });
    const inTree = this.git.runner(tree);
    // Directories were validated (relative, no leading "-"), so they are safe as arguments.
    if (this.entry.sparse !== null) await inTree.run(['sparse-checkout', 'set', '--cone', ...this.entry.sparse], this.git.opts(env));
    // Credentials too: a partial clone fetches the blobs it checks out from the remote.
    await inTree.run(['reset', '--hard', '--quiet', commit], this.git.opts(env));
    await this.updateSubmodules(inTree, env);
    const admin = await adminDir(tree);
    if (admin !== null) await writeFile(join(admin, COMPLETE_MARKER), `${commit}\n`);
  }

  async updateSubmodules(inTree: GitRunner, env: Record<string, string>): Promise<void> {
    const mode = this.entry.submodules;
    if (mode === 'off' || !(await stat(join(inTree.cwd, '.gitmodules')).then(() => true, () => false))) return;
    // Relative submodule URLs resolve against remote.origin.url, which names the entry's repo.
    await inTree.run(['submodule', 'update', '--init', '--recursive', ...(mode === 'shallow' ? ['--depth=1'] : [])], this.git.opts(env));
  }

  /**
   * True when `tree` is already a complete checkout of `commit` (e.g. the link was deleted): a
   * real folder (not a symlink planted in its place) that create() finished, still clean.
   */
  async isCheckoutOf(tree: string, commit: string): Promise<boolean> {
    if (!(await lstat(tree).then((s) => s.isDirectory(), () => false))) return false;
    const admin = await adminDir(tree);
    if (admin === null) return false;
    const marker = await readFile(join(admin, COMPLETE_MARKER), 'utf8').catch(() => '');
    if (marker.trim() !== commit) return false;
    const head = await this.git.runner(tree).run(['rev-parse', 'HEAD'], this.git.opts()).catch(() => '');
    if (head.trim() !== commit) return false;
    const dirty = await this.git.runner(tree).run(['status', '--porcelain', '--untracked-files=no'], this.git.opts()).catch(() => 'x');
    return dirty.trim() === '';
  }
}

/** The admin folder of the worktree at `tree`, named by its `.git` file; null when there is none. */
async function adminDir(tree: string): Promise<string | null> {
  const text = await readFile(join(tree, '.git'), 'utf8').catch(() => null);
  const named = text === null ? null : /^gitdir: (.+)$/m.exec(text)?.[1]?.trim();
  if (named === undefined || named === null || named === '') return null;
  return isAbsolute(named) ? named : resolve(tree, named);
}
