// In place, the repository is the clone at `path` itself: made when the folder is empty, taken
// over when it is a clone of the entry's remote, refused when it is someone else's.

import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncError } from '../../shared/errors.js';
import { OWNER_MARKER } from '../../shared/layout.js';
import type { GitRunner } from '../git.js';
import { localError } from '../publish.js';
import { configureRemote, isCloneOf, wantedConfig } from '../repo-config.js';
import { RepositoryOfOurOwn } from './own.js';

export class CloneAtPath extends RepositoryOfOurOwn {
  get gitDir(): string {
    return this.layout.gitDir;
  }

  get folders(): readonly string[] {
    return [this.layout.gitDir];
  }

  runner(): GitRunner {
    return this.git.runner(this.layout.path);
  }

  /** The clone at `path`, made when the folder is empty; refused when it is someone else's. */
  protected async openRepository(): Promise<GitRunner> {
    const { path, stateDir } = this.layout;
    if (this.checked) return this.runner();
    await mkdir(path, { recursive: true }).catch((err) => {
      throw localError(`cannot create ${path}`, err);
    });
    const git = this.runner();
    const marker = join(stateDir, OWNER_MARKER);
    const hasGit = await stat(join(path, '.git')).then(() => true, () => false);
    if (!hasGit) {
      if ((await readdir(path)).length > 0) {
        throw new SyncError('local-state', `${path} is a non-empty directory that is not a git clone; git-autosync will not overwrite it. Empty it or choose another path`);
      }
      await git.run(['init', '--quiet'], this.git.opts());
    } else if (!(await stat(marker).then(() => true, () => false))) {
      if (!(await isCloneOf(git, this.entry.repo, this.git.opts()))) {
        throw new SyncError('local-state', `${path} is a clone of another repository; git-autosync will not overwrite it. Empty it or choose another path`);
      }
    }
    // From now on this clone is ours, whatever URL the entry names later.
    await mkdir(stateDir, { recursive: true });
    await writeFile(marker, 'managed by git-autosync\n');
    // Not the sole writer: git keeps its own expiry of unreachable objects here (see wantedConfig).
    await configureRemote(git, wantedConfig(this.entry, this.entry.repo, { soleWriter: false }), this.git.opts());
    this.checked = true;
    return git;
  }
}
