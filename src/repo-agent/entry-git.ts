// How git runs for one entry: runners under its transport policy and timeout, and the repository
// it fetches into (its own, or the object store it shares with other entries).

import type { ResolvedEntry, SharedStore } from '../shared/listing-schema.js';
import type { Layout } from '../shared/layout.js';
import { GitRunner, type RunOptions } from './git.js';

export class EntryGit {
  private readonly runners = new Map<string, GitRunner>();
  private storeRunner: GitRunner | null = null;

  constructor(
    private readonly entry: ResolvedEntry,
    private readonly layout: Layout,
    private readonly store: SharedStore | null,
  ) {}

  /** The repository fetched into: our own, or the shared store. */
  get gitDir(): string {
    return this.store?.dir ?? this.layout.gitDir;
  }

  /** Runs git on the repository (for a shared store: from our own folder, with GIT_DIR). */
  repo(): GitRunner {
    if (this.store === null) return this.runner(this.layout.gitDir);
    this.storeRunner ??= new GitRunner(this.layout.stateDir, { allowFileTransport: this.entry.transport === 'file', extraConfig: this.entry.gitConfig, gitDir: this.store.dir });
    return this.storeRunner;
  }

  /** A git runner for `cwd` under this entry's transport policy (kept: polls reuse it). */
  runner(cwd: string): GitRunner {
    let r = this.runners.get(cwd);
    if (r === undefined) {
      r = new GitRunner(cwd, { allowFileTransport: this.entry.transport === 'file', extraConfig: this.entry.gitConfig });
      // Trees come and go with commits; only the few long-lived folders are worth keeping.
      if (cwd === this.layout.gitDir || cwd === this.layout.stateDir || cwd === this.layout.path) this.runners.set(cwd, r);
    }
    return r;
  }

  /** Options for one git command: the entry's timeout, and `env` when given. */
  opts(env?: Record<string, string>): RunOptions {
    return env === undefined ? { timeoutMs: this.entry.timeoutMs } : { timeoutMs: this.entry.timeoutMs, env };
  }
}
