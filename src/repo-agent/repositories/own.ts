// A repository of the entry's own: nobody else fetches or collects in it, so it needs no lock,
// and whatever a killed predecessor left in it is ours to clear. The bare repository in the
// state folder (symlink mode) is one; the clone at `path` (in place, clone-at-path.ts) another.

import { mkdir } from 'node:fs/promises';
import type { ResolvedEntry } from '../../shared/listing-schema.js';
import type { Layout } from '../../shared/layout.js';
import type { Log } from '../../shared/logger.js';
import type { Credentials } from '../credentials.js';
import type { EntryGit } from '../entry-git.js';
import type { GitRunner } from '../git.js';
import { localError } from '../publish.js';
import type { Remote, RemoteTarget } from '../remote.js';
import { removeFetchLeftovers, removeStaleLocks } from '../repair.js';
import { wantedConfig } from '../repo-config.js';
import { openBare } from './bare.js';
import type { Repository } from './repository.js';

// Where fetched commits are kept reachable, so gc never takes the tree being published. In a
// shared store each entry has its own (see memberRef).
export const TARGET_REF = 'refs/autosync/target';

export abstract class RepositoryOfOurOwn implements Repository {
  readonly targetRef = TARGET_REF;
  /** Set once the repository was checked in this process; cleared when git reports damage. */
  protected checked = false;

  constructor(
    protected readonly entry: ResolvedEntry,
    protected readonly layout: Layout,
    protected readonly log: Log,
    protected readonly git: EntryGit,
  ) {}

  abstract readonly gitDir: string;
  abstract readonly folders: readonly string[];
  abstract runner(): GitRunner;
  /** The repository, checked (and made) once per check. */
  protected abstract openRepository(): Promise<GitRunner>;

  async open(): Promise<void> {
    await this.openRepository();
  }

  async heal(): Promise<void> {
    // A predecessor killed mid-fetch left its partial objects: give the space back now.
    await removeFetchLeftovers(this.gitDir).catch(() => []);
    // Repairs are best effort: what cannot be fixed here is reported by the sync that trips on it.
    const locks = await removeStaleLocks(this.gitDir).catch((err: unknown) => {
      this.log.warn('could not remove stale git locks', { error: (err as Error).message });
      return [];
    });
    if (locks.length > 0) this.log.warn('removed stale git locks', { locks });
  }

  async sweepAbandonedFetch(): Promise<void> {
    await removeFetchLeftovers(this.gitDir);
  }

  async resolve(remote: Remote, creds: Credentials, compare: boolean): Promise<RemoteTarget> {
    const git = await this.openRepository();
    // With nothing published yet there is nothing to compare: go straight to the fetch.
    return remote.resolve(compare ? git : null, creds);
  }

  async fetch(remote: Remote, target: RemoteTarget, env: Record<string, string>): Promise<string> {
    const git = await this.openRepository();
    return remote.fetch({ git, gitDir: this.gitDir, targetRef: this.targetRef }, target.source, env);
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  async beforeGc(): Promise<void> {}

  async afterPublish(): Promise<void> {}

  recheck(): void {
    this.checked = false;
  }
}

/** The bare repository in the entry's state folder (symlink mode, no shared store). */
export class OwnRepository extends RepositoryOfOurOwn {
  get gitDir(): string {
    return this.layout.gitDir;
  }

  get folders(): readonly string[] {
    return [this.layout.gitDir];
  }

  runner(): GitRunner {
    return this.git.runner(this.layout.gitDir);
  }

  protected async openRepository(): Promise<GitRunner> {
    if (this.checked) return this.runner();
    await makeStateDir(this.layout);
    await openBare({
      git: this.git,
      gitDir: this.gitDir,
      bare: () => this.runner(),
      initFrom: this.git.runner(this.layout.stateDir),
      wanted: wantedConfig(this.entry, this.entry.repo, { soleWriter: true }),
      keep: [],
      log: this.log,
    });
    this.checked = true;
    return this.runner();
  }
}

/** Our state folder, made once per check of the repository (not on every poll). */
export async function makeStateDir(layout: Layout): Promise<void> {
  const { worktreesDir } = layout;
  await mkdir(worktreesDir, { recursive: true }).catch((err) => {
    throw localError(`cannot create ${worktreesDir}`, err);
  });
}
