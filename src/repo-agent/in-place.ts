// The in-place publish mode: `path` is itself a clone, reset to each fetched commit. For a path
// that is a mount point; readers can see a mix of files while they are rewritten.

import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import { isObjectId } from '../shared/object-id.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { OWNER_MARKER, type Layout } from '../shared/layout.js';
import type { Checkouts } from './checkout.js';
import { loadCredentials } from './credentials.js';
import type { EntryGit } from './entry-git.js';
import type { GitRunner } from './git.js';
import type { SyncOutcome } from './outcome.js';
import { localError } from './publish.js';
import type { Remote } from './remote.js';
import { configureRemote, sameRemote, wantedConfig } from './repo-config.js';

// In stateDir: the commit whose tree is complete at `path` (files, submodules). Removed before
// the files are rewritten and written once everything is in place, so a failed attempt (a
// submodule that could not be fetched) is retried, never taken as "unchanged" because HEAD
// already names the new commit.
const COMPLETE_MARKER = 'complete';

export class InPlace {
  /** Set once the clone was checked in this process; cleared when git reports damage. */
  private checked = false;

  constructor(
    private readonly entry: ResolvedEntry,
    private readonly layout: Layout,
    private readonly git: EntryGit,
    private readonly remote: Remote,
    private readonly checkouts: Checkouts,
  ) {}

  /** Look at the clone again (and re-create it) on the next sync. */
  recheck(): void {
    this.checked = false;
  }

  /**
   * The commit whose tree is complete at `path`, or null (no clone, or the last attempt did not
   * finish: its files may be a mix, or a submodule folder empty).
   */
  async head(): Promise<string | null> {
    if (!(await stat(join(this.layout.path, '.git')).then(() => true, () => false))) return null;
    const complete = (await readFile(join(this.layout.stateDir, COMPLETE_MARKER), 'utf8').catch(() => '')).trim();
    if (complete === '') return null;
    const head = await this.git.runner(this.layout.path).run(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], this.git.opts()).catch(() => '');
    return isObjectId(head.trim()) && head.trim() === complete ? complete : null;
  }

  async sync(): Promise<SyncOutcome> {
    const git = await this.repo();
    const previous = await this.head();
    const creds = await loadCredentials(this.entry, this.layout.secretsDir);
    const env = creds.env;
    const target = await this.remote.resolve(previous === null ? null : git, creds);
    if (previous !== null && target.seen === previous) {
      return { result: 'unchanged', commit: previous, tree: this.layout.path, previousCommit: previous, fetched: false };
    }
    const commit = await this.remote.fetch(git, target.source, env);
    const marker = join(this.layout.stateDir, COMPLETE_MARKER);
    await rm(marker, { force: true });
    // Not atomic by design: readers can see a mix while files are rewritten.
    await git.run(['reset', '--hard', '--quiet', commit], this.git.opts(env));
    await git.run(['clean', '-ffd', '--quiet'], this.git.opts());
    await this.checkouts.updateSubmodules(git, env);
    await writeFile(marker, `${commit}\n`);
    return { result: previous === commit ? 'unchanged' : 'synced', commit, tree: this.layout.path, previousCommit: previous, fetched: true };
  }

  /** The clone at `path`, made when the folder is empty; refused when it is someone else's. */
  private async repo(): Promise<GitRunner> {
    const { path, stateDir } = this.layout;
    if (this.checked) return this.git.runner(path);
    await mkdir(path, { recursive: true }).catch((err) => {
      throw localError(`cannot create ${path}`, err);
    });
    const git = this.git.runner(path);
    const marker = join(stateDir, OWNER_MARKER);
    const hasGit = await stat(join(path, '.git')).then(() => true, () => false);
    if (!hasGit) {
      if ((await readdir(path)).length > 0) {
        throw new SyncError('local-state', `${path} is a non-empty directory that is not a git clone; git-autosync will not overwrite it. Empty it or choose another path`);
      }
      await git.run(['init', '--quiet'], this.git.opts());
    } else if (!(await stat(marker).then(() => true, () => false))) {
      const url = (await git.run(['config', '--get', 'remote.origin.url'], this.git.opts()).catch(() => '')).trim();
      if (!sameRemote(url, this.entry.repo)) {
        throw new SyncError('local-state', `${path} is a clone of another repository; git-autosync will not overwrite it. Empty it or choose another path`);
      }
    }
    // From now on this clone is ours, whatever URL the entry names later.
    await mkdir(stateDir, { recursive: true });
    await writeFile(marker, 'managed by git-autosync\n');
    await configureRemote(git, wantedConfig(this.entry, null), this.git.opts());
    this.checked = true;
    return git;
  }
}
