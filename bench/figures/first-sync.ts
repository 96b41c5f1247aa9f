// Figure 1: the first sync of a large repository. The agent (fork → published symlink or, in
// exchange mode, directory; and its own synced.durationMs) against `git clone --depth 1 --branch
// main`, alternating, fresh dirs each run.

import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { git } from '../../test/support/git-repo.js';
import { makeTempDir } from '../../test/support/tmp.js';
import { launchAgent } from '../support/agent-process.js';
import { installGitTrace, type TracedCommand } from '../support/git-trace.js';
import { waitForPublished, type BenchMode } from '../support/link.js';
import type { Scope } from '../support/scope.js';

const SYNC_TIMEOUT_MS = 120_000;

export interface AgentFirstSync {
  /** Fork to the symlink being readable. */
  wallMs: number;
  /** What the agent reported in `synced`. */
  syncMs: number;
  /** Where the wall time went, measured on the bench's clock from message arrivals. */
  phases: {
    /** fork → hello: node start-up and loading the agent's modules. */
    startMs: number;
    /** hello → ready: configure, entry validation, local-state checks (prepare). */
    prepareMs: number;
    /** ready → link readable: the first sync up to the rename. */
    syncToLinkMs: number;
  };
}

export interface TracedFirstSync extends AgentFirstSync {
  commands: Array<{ args: string[]; startMs: number; ms: number }>;
}

export interface FirstSyncResult {
  agent: AgentFirstSync[];
  rawCloneMs: number[];
  traced: TracedFirstSync;
}

async function agentRun(parent: Scope, url: string, mode: BenchMode, env?: NodeJS.ProcessEnv): Promise<{ run: AgentFirstSync; forkedEpochMs: number }> {
  const scope = parent.child();
  try {
    const dir = await makeTempDir(scope, 'gas-bench-first-');
    const path = join(dir, 'big');
    // One sync only: the next poll would come after the run has ended.
    const agent = await launchAgent(scope, { path, repo: url, branch: 'main', publish: mode }, { defaults: { intervalMs: 3_600_000 }, ...(env ? { env } : {}) });
    // Exchange mode's first publish renames the whole tree into place: a directory there is all of it.
    const linkAt = await waitForPublished(mode, path, { commit: null, file: null, content: '' }, SYNC_TIMEOUT_MS);
    const hello = await agent.find('hello');
    const ready = await agent.find('ready');
    const synced = await agent.find('synced', { timeoutMs: 10_000 });
    return {
      forkedEpochMs: performance.timeOrigin + agent.startedAt,
      run: {
        wallMs: linkAt - agent.startedAt,
        syncMs: synced.message.durationMs,
        phases: { startMs: hello.at - agent.startedAt, prepareMs: ready.at - hello.at, syncToLinkMs: linkAt - ready.at },
      },
    };
  } finally {
    await scope.close();
  }
}

async function rawRun(parent: Scope, url: string): Promise<number> {
  const scope = parent.child();
  try {
    const dir = await makeTempDir(scope, 'gas-bench-clone-');
    const started = performance.now();
    await git(dir, ['clone', '--quiet', '--depth', '1', '--branch', 'main', url, 'big']);
    return performance.now() - started;
  } finally {
    await scope.close();
  }
}

export async function benchFirstSync(scope: Scope, url: string, runs: number, mode: BenchMode = 'symlink'): Promise<FirstSyncResult> {
  // Unrecorded warm-up of each, so neither side pays for a cold page cache or a cold daemon.
  await rawRun(scope, url);
  await agentRun(scope, url, mode);

  const agent: AgentFirstSync[] = [];
  const rawCloneMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Alternate which side goes first, so a slow drift (cache, clock) favours neither.
    if (i % 2 === 0) {
      agent.push((await agentRun(scope, url, mode)).run);
      rawCloneMs.push(await rawRun(scope, url));
    } else {
      rawCloneMs.push(await rawRun(scope, url));
      agent.push((await agentRun(scope, url, mode)).run);
    }
  }

  const traceScope = scope.child();
  try {
    const trace = await installGitTrace(await makeTempDir(traceScope, 'gas-bench-trace-'));
    const { run, forkedEpochMs } = await agentRun(traceScope, url, mode, { PATH: trace.path });
    const commands = (await trace.read()).map((c: TracedCommand) => ({ args: c.args, startMs: c.startMs - forkedEpochMs, ms: c.endMs - c.startMs }));
    return { agent, rawCloneMs, traced: { ...run, commands } };
  } finally {
    await traceScope.close();
  }
}
