// A repository of the entry's own: nobody else fetches or collects in it, so it needs no lock,
// and whatever a killed predecessor left in it is ours to clear. The bare repository in the
// state folder (symlink mode) is one; the clone at `path` (in place, clone-at-path.ts) another.

import { appendFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedEntry } from '../../shared/listing-schema.js';
import type { Layout } from '../../shared/layout.js';
import type { Log } from '../../shared/log.js';
import type { Credentials } from '../credentials.js';
import type { EntryGit } from '../entry-git.js';
import type { GitRunner } from '../git.js';
import { localError } from '../publish.js';
import type { Remote, RemoteTarget } from '../remote.js';
import { removeFetchLeftovers, removeStaleLocks } from '../repair.js';
import { configBlock, configureRemote, wantedConfig } from '../repo-config.js';
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
    return remote.resolve(compare || remote.mustAsk ? git : null, creds);
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

/**
 * Open a bare repository (our own, or a shared store while holding its lock): check it,
 * re-create it when damaged, and bring its settings to the entry's.
 */
export async function openBare(o: {
  git: EntryGit;
  gitDir: string;
  /** Runs git on the repository (made only once it exists: a runner needs its folder). */
  bare: () => GitRunner;
  /** Runs `git init` (outside the repository). */
  initFrom: GitRunner;
  wanted: Record<string, string | null>;
  /** Files of a damaged repository to keep (a new store's registrations); none: remove it whole. */
  keep: string[];
  log: Log;
}): Promise<void> {
  const { gitDir, bare, git } = o;
  const healthy = await stat(join(gitDir, 'HEAD')).then(
    () => bare().run(['rev-parse', '--is-bare-repository'], git.opts()).then((out) => out.trim() === 'true'),
    () => false,
  ).catch(() => false);
  if (healthy) {
    await configureRemote(bare(), o.wanted, git.opts()); // the entry may have changed since
    return;
  }
  const leftovers = o.keep.length === 0
    ? (await stat(gitDir).then(() => [gitDir], () => []))
    : (await readdir(gitDir).catch(() => [] as string[])).filter((n) => !o.keep.includes(n)).map((n) => join(gitDir, n));
  if (leftovers.length > 0) o.log.warn('git state is damaged; re-creating it', { gitDir });
  for (const p of leftovers) await rm(p, { recursive: true, force: true });
  // An empty template: no sample hooks to copy (measurable on slow disks), none to run.
  await o.initFrom.run(['init', '--bare', '--quiet', '--template=', gitDir], git.opts());
  // A fresh repository gets its settings in one write instead of one git process each.
  await appendFile(join(gitDir, 'config'), configBlock(o.wanted));
}
