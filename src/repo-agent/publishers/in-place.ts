// The in-place publisher: `path` is itself a clone (repositories/clone-at-path.ts), reset to
// each fetched commit. For a path that is a mount point; readers can see a mix of files while
// they are rewritten.

import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isObjectId } from '../../shared/object-id.js';
import type { Layout } from '../../shared/layout.js';
import type { Checkouts } from '../checkout.js';
import type { EntryGit } from '../entry-git.js';
import type { Repository } from '../repositories/repository.js';
import type { Published, Publisher } from './publisher.js';

// In stateDir: the commit whose tree is complete at `path` (files, submodules). Removed before
// the files are rewritten and written once everything is in place, so a failed attempt (a
// submodule that could not be fetched) is retried, never taken as "unchanged" because HEAD
// already names the new commit.
const COMPLETE_MARKER = 'complete';

export class InPlacePublisher implements Publisher {
  /** Nothing is kept: there is only the one tree, at `path`. */
  readonly kept: string[] = [];

  constructor(
    private readonly layout: Layout,
    private readonly git: EntryGit,
    private readonly repository: Repository,
    private readonly checkouts: Checkouts,
  ) {}

  /** `path` itself: its parent may not be writable, and the state folder lives inside the clone. */
  get home(): string {
    return this.layout.path;
  }

  get outermost(): string {
    return this.layout.path;
  }

  get folders(): readonly string[] {
    return [this.layout.stateDir, this.layout.secretsDir];
  }

  adopt(): Promise<string | null> {
    return this.head();
  }

  async current(): Promise<Published> {
    const commit = await this.head();
    return { commit, whole: commit !== null };
  }

  treeOf(): string {
    return this.layout.path;
  }

  /** The files are rewritten where readers are: there is nothing to stage beside them. */
  async stage(): Promise<string> {
    return this.layout.path;
  }

  async publish(commit: string, _tree: string, _before: Published, env: Record<string, string>): Promise<void> {
    const git = this.repository.runner();
    const marker = join(this.layout.stateDir, COMPLETE_MARKER);
    await rm(marker, { force: true });
    // Not atomic by design: readers can see a mix while files are rewritten.
    await git.run(['reset', '--hard', '--quiet', commit], this.git.opts(env));
    await git.run(['clean', '-ffd', '--quiet'], this.git.opts());
    await this.checkouts.updateSubmodules(git, env);
    await writeFile(marker, `${commit}\n`);
  }

  /** No pre-publish hook in place (the listing refuses one): nothing was staged to discard. */
  discard(): void {}

  close(): void {}

  /**
   * The commit whose tree is complete at `path`, or null (no clone, or the last attempt did not
   * finish: its files may be a mix, or a submodule folder empty).
   */
  private async head(): Promise<string | null> {
    if (!(await stat(join(this.layout.path, '.git')).then(() => true, () => false))) return null;
    const complete = (await readFile(join(this.layout.stateDir, COMPLETE_MARKER), 'utf8').catch(() => '')).trim();
    if (complete === '') return null;
    const head = await this.git.runner(this.layout.path).run(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], this.git.opts()).catch(() => '');
    return isObjectId(head.trim()) && head.trim() === complete ? complete : null;
  }
}
