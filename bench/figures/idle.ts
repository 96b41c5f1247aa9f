// Figures 2 and 4: an agent polling an unchanged repository. CPU per unchanged poll (the agent and
// the git it waited for) against the same number of bare `git ls-remote`; then, still idle-polling,
// its private memory against a bare node process. A second agent on another repository runs at
// the same time, since with several agents the node binary's text pages are shared between them.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fixtureGitEnv } from '../../test/support/git-repo.js';
import type { GitServer } from '../../test/support/git-daemon.js';
import { makeTempDir } from '../../test/support/tmp.js';
import { AGENT_EXEC_ARGV, launchAgent, type AgentProcess } from '../support/agent-process.js';
import { spawnMemoryBaselines } from '../support/memory-baselines.js';
import { readCpuTicks, readMemory, type CpuTicks, type Memory } from '../support/proc.js';
import { createSmallRepo } from '../support/repos.js';
import type { Scope } from '../support/scope.js';
import { median } from '../support/stats.js';

const POLL_INTERVAL_MS = 200;
const WARMUP_POLLS = 5;
const BASELINE_BATCHES = 3;
const DEADLINE_WRAPPER = fileURLToPath(new URL('../../libexec/git-with-deadline', import.meta.url));

export interface AgentPolls {
  polls: number;
  /** Whole poll as the agent reported it (unchanged.durationMs). */
  medianPollMs: number;
  /** CPU ms per poll: node itself (user, system), and the children it waited for (sh wrapper, timeout, git). */
  selfUserMsPerPoll: number;
  selfSystemMsPerPoll: number;
  childrenMsPerPoll: number;
  totalMsPerPoll: number;
  elapsedMs: number;
}

export interface IdleResult {
  clockTicksPerSecond: number;
  agentA: AgentPolls;
  agentB: AgentPolls;
  /** CPU ms per call of `git ls-remote`, one figure per batch of the same count as the agent's polls. */
  lsRemoteMsPerCall: number[];
  /** The same through the agent's deadline wrapper (sh + timeout + git), for attribution. */
  wrappedLsRemoteMsPerCall: number;
  memory: { agentA: Memory; agentB: Memory; bareNode: Memory; nodeWithAgentModules: Memory };
}

function cpuMsPerPoll(before: CpuTicks, after: CpuTicks, polls: number, hz: number) {
  const ms = (k: keyof CpuTicks) => ((after[k] - before[k]) * 1000) / hz / polls;
  const childrenMsPerPoll = ms('childrenUser') + ms('childrenSystem');
  return {
    selfUserMsPerPoll: ms('user'),
    selfSystemMsPerPoll: ms('system'),
    childrenMsPerPoll,
    totalMsPerPoll: ms('user') + ms('system') + childrenMsPerPoll,
  };
}

/** Waits for `polls` more `unchanged` after index `from`; fails on the first failed sync. */
async function countUnchanged(agent: AgentProcess, from: number, polls: number): Promise<{ last: number; durations: number[] }> {
  let last = from;
  const durations: number[] = [];
  for (let i = 0; i < polls; i++) {
    const next = await agent.find('unchanged', { from: last + 1, timeoutMs: POLL_INTERVAL_MS * 20 });
    const failed = agent.arrivals.slice(last + 1, next.index).find((a) => a.message.type === 'failed' || a.message.type === 'synced');
    if (failed !== undefined) throw new Error(`agent ${agent.pid}: unexpected ${JSON.stringify(failed.message)} while the repo was unchanged`);
    durations.push(next.message.durationMs);
    last = next.index;
  }
  return { last, durations };
}

/**
 * CPU ms per run of `command`, run `count` times one after another, read from this process's
 * reaped-children time. Asynchronous on purpose: a blocked event loop would stop draining the
 * git daemon's log pipe, and the daemon would stall once it filled.
 */
async function childCpuMsPerRun(command: string, args: string[], count: number, env: NodeJS.ProcessEnv, hz: number): Promise<number> {
  const children = () => {
    const t = readCpuTicks('self');
    return t.childrenUser + t.childrenSystem;
  };
  const before = children();
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) => {
      execFile(command, args, { env, timeout: 30_000, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr || error.message}`, { cause: error }));
        else resolve();
      });
    });
  }
  return ((children() - before) * 1000) / hz / count;
}

export async function benchIdle(parent: Scope, serveRoot: string, daemon: GitServer, polls: number, hz: number): Promise<IdleResult> {
  const scope = parent.child();
  try {
    await createSmallRepo(serveRoot, 'idle-a');
    await createSmallRepo(serveRoot, 'idle-b');
    const dir = await makeTempDir(scope, 'gas-bench-idle-');

    // Memory baselines, alive as long as the agents (see memory-baselines.ts).
    const { bareNode, withModules } = spawnMemoryBaselines(scope, AGENT_EXEC_ARGV);

    const entry = (name: string) => ({ path: join(dir, name), repo: daemon.url(name), branch: 'main', interval: POLL_INTERVAL_MS });
    const a = await launchAgent(scope, entry('idle-a'));
    const b = await launchAgent(scope, entry('idle-b'));
    const syncedA = await a.find('synced', { timeoutMs: 30_000 });
    const syncedB = await b.find('synced', { timeoutMs: 30_000 });
    const warmA = await countUnchanged(a, syncedA.index, WARMUP_POLLS);
    const warmB = await countUnchanged(b, syncedB.index, WARMUP_POLLS);

    // Sampled right after an `unchanged` arrived: the poll's git has been reaped and the next poll is ~200 ms away.
    const a0 = readCpuTicks(a.pid);
    const b0 = readCpuTicks(b.pid);
    const startedAt = performance.now();
    const pollsA = countUnchanged(a, warmA.last, polls).then((r) => ({ ...r, cpu: readCpuTicks(a.pid), at: performance.now() }));
    const pollsB = countUnchanged(b, warmB.last, polls).then((r) => ({ ...r, cpu: readCpuTicks(b.pid), at: performance.now() }));
    const [ra, rb] = await Promise.all([pollsA, pollsB]);
    const agentA = { polls, medianPollMs: median(ra.durations), elapsedMs: ra.at - startedAt, ...cpuMsPerPoll(a0, ra.cpu, polls, hz) };
    const agentB = { polls, medianPollMs: median(rb.durations), elapsedMs: rb.at - startedAt, ...cpuMsPerPoll(b0, rb.cpu, polls, hz) };

    const memory = { agentA: readMemory(a.pid), agentB: readMemory(b.pid), bareNode: readMemory(bareNode), nodeWithAgentModules: readMemory(withModules) };
    await a.stop();
    await b.stop();

    // Baselines with the agents stopped, so nothing else is asking the daemon at the same time.
    const url = daemon.url('idle-a');
    const env = { ...process.env, ...fixtureGitEnv };
    const lsRemoteMsPerCall: number[] = [];
    for (let i = 0; i < BASELINE_BATCHES; i++) lsRemoteMsPerCall.push(await childCpuMsPerRun('git', ['ls-remote', url, 'refs/heads/main'], polls, env, hz));
    const wrappedLsRemoteMsPerCall = await childCpuMsPerRun(DEADLINE_WRAPPER, ['ls-remote', url, 'refs/heads/main'], polls, { ...env, GIT_AUTOSYNC_DEADLINE_S: '60' }, hz);

    return { clockTicksPerSecond: hz, agentA, agentB, lsRemoteMsPerCall, wrappedLsRemoteMsPerCall, memory };
  } finally {
    await scope.close();
  }
}
