// How git runs for one entry: runners under its transport policy and timeout. Which repository
// it fetches into is the Repository's to say (repositories/).

import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Layout } from '../shared/layout.js';
import { GitRunner, type RunOptions } from './git.js';

export class EntryGit {
  private readonly runners = new Map<string, GitRunner>();

  constructor(
    private readonly entry: ResolvedEntry,
    private readonly layout: Layout,
  ) {}

  /**
   * A git runner for `cwd` under this entry's transport policy (kept: polls reuse it). `gitDir`
   * names a repository outside `cwd` (a shared object store), given to git as GIT_DIR.
   */
  runner(cwd: string, gitDir?: string): GitRunner {
    const key = gitDir === undefined ? cwd : `${cwd}\0${gitDir}`;
    let r = this.runners.get(key);
    if (r === undefined) {
      r = new GitRunner(cwd, { allowFileTransport: this.entry.transport === 'file', extraConfig: this.entry.gitConfig, ...(gitDir === undefined ? {} : { gitDir }) });
      // Trees come and go with commits; only the few long-lived folders are worth keeping.
      if (cwd === this.layout.gitDir || cwd === this.layout.stateDir || cwd === this.layout.path) this.runners.set(key, r);
    }
    return r;
  }

  /** Options for one git command: the entry's timeout, and `env` when given. */
  opts(env?: Record<string, string>): RunOptions {
    return env === undefined ? { timeoutMs: this.entry.timeoutMs } : { timeoutMs: this.entry.timeoutMs, env };
  }
}
