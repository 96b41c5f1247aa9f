// Where an entry's commits are fetched into: a bare repository of its own, the object store it
// shares with the other entries of its remote, or (in place) the clone at `path`. Chosen once,
// when the agent starts (strategies.ts); RepoSync never asks which.

import type { Credentials } from '../credentials.js';
import type { GitRunner } from '../git.js';
import type { Remote, RemoteTarget } from '../remote.js';

export interface Repository {
  /** The git directory fetched into. */
  readonly gitDir: string;
  /** Our ref in it: fetched commits stay reachable there, so gc never takes a tree being published. */
  readonly targetRef: string;
  /** Folders of this repository that we made: each must stay a real folder wherever it exists. */
  readonly folders: readonly string[];
  /** Runs git on the repository. */
  runner(): GitRunner;
  /** At start, once no git of ours runs: give back what a killed predecessor left. */
  heal(): Promise<void>;
  /** After a sync abandoned at shutdown (its git killed): give back the space a half-done fetch took. */
  sweepAbandonedFetch(): Promise<void>;
  /**
   * Make the repository ready as needed (create it, check it once). Before anything is written
   * in the state folder: in place, that folder lives inside the clone's .git.
   */
  open(): Promise<void>;
  /**
   * Find what to fetch, on the opened repository. `compare` false: nothing is published
   * to compare with, so the remote is asked only where the repository itself needs the answer.
   */
  resolve(remote: Remote, creds: Credentials, compare: boolean): Promise<RemoteTarget>;
  /** Fetch `target` and return exactly the commit to publish. */
  fetch(remote: Remote, target: RemoteTarget, env: Record<string, string>): Promise<string>;
  /**
   * Run `fn` holding the repository's lock: fetches, worktree registration and pruning, and gc
   * never overlap. Directly for a repository of our own.
   */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  /** Holding the lock, before gc: drop what only departed entries needed. */
  beforeGc(git: GitRunner): Promise<void>;
  /** After a publish. */
  afterPublish(): Promise<void>;
  /** git reported damage: look at the repository again (and re-create it) on the next sync. */
  recheck(): void;
}
