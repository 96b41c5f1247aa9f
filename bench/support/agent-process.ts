// Starts a real agent with the tests' launcher (so the handshake and configure message stay
// whatever the protocol currently is), timestamps every message as it arrives, and lets the bench
// wait for the n-th message of a kind without polling.

import { performance } from 'node:perf_hooks';
import { startAgent } from '../../test/support/agent.js';
import type { AgentDefaults } from '../../src/shared/listing-schema.js';
import { parseAgentMessage, type AgentMessage } from '../../src/shared/protocol.js';
import type { Scope } from './scope.js';

export interface Arrival<M extends AgentMessage = AgentMessage> {
  message: M;
  /** performance.now() when the bench received it. */
  at: number;
  /** Its position in `arrivals`, to search on from the next one. */
  index: number;
}

type Of<T extends AgentMessage['type']> = Extract<AgentMessage, { type: T }>;

export interface AgentProcess {
  readonly pid: number;
  /** performance.now() just before the launch (entry resolution, then fork). */
  readonly startedAt: number;
  readonly arrivals: readonly Arrival[];
  /** The first message of `type` at index `from` or later that passes `pred`; fails after timeoutMs or once the agent exited. */
  find<T extends AgentMessage['type']>(type: T, opts?: { from?: number; pred?: (m: Of<T>) => boolean; timeoutMs?: number }): Promise<Arrival<Of<T>>>;
  stop(): Promise<void>;
}

/** Production defaults (DEFAULTS in listing-schema), except a shorter git timeout to bound a stuck run. */
export const BENCH_DEFAULTS: AgentDefaults = { intervalMs: 60_000, timeoutMs: 60_000, staleAfterMs: 10_000, depth: 1 };

/** The node flags the supervisor forks agents with: the bench forks its agents the same way. */
export { AGENT_EXEC_ARGV } from '../../src/supervisor/supervision.js';
import { AGENT_ENV_DEFAULTS, AGENT_EXEC_ARGV } from '../../src/supervisor/supervision.js';

/**
 * fork() passes the parent's execArgv on to the child. Under tsx that is tsx's loader, which
 * would run inside every agent (with its own worker thread) and inflate its start-up time and
 * memory; the supervisor forks agents with plain node and its own flags, so the bench does too.
 */
function forkAsProductionDoes(): void {
  // BENCH_AGENT_EXEC_ARGV (space-separated) tries other node flags than the supervisor's.
  const flags = process.env.BENCH_AGENT_EXEC_ARGV?.split(' ').filter((f) => f !== '') ?? AGENT_EXEC_ARGV;
  process.execArgv.splice(0, process.execArgv.length, ...flags);
}

export async function launchAgent(
  scope: Scope,
  entry: Record<string, unknown>,
  opts: { defaults?: Partial<AgentDefaults>; env?: NodeJS.ProcessEnv } = {},
): Promise<AgentProcess> {
  forkAsProductionDoes();
  const startedAt = performance.now();
  // info is the production default; the tests' debug level would log every unchanged poll.
  const env: NodeJS.ProcessEnv = { ...AGENT_ENV_DEFAULTS, LOG_LEVEL: 'info', ...opts.env };
  const nodeOptions = process.env.BENCH_AGENT_NODE_OPTIONS;
  if (nodeOptions !== undefined) env.NODE_OPTIONS = [nodeOptions, opts.env?.NODE_OPTIONS].filter((o) => o !== undefined).join(' ');
  const agent = await startAgent(scope, entry, { defaults: { ...BENCH_DEFAULTS, ...opts.defaults }, env });
  const { child, pid } = agent;

  // Attached before any message can arrive: startAgent returned in a microtask after fork().
  const arrivals: Arrival[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  child.on('message', (raw) => {
    const at = performance.now();
    const message = parseAgentMessage(raw);
    if (message !== null) arrivals.push({ message, at, index: arrivals.length });
    wake();
  });
  child.on('exit', wake);

  async function find<T extends AgentMessage['type']>(
    type: T,
    { from = 0, pred = () => true, timeoutMs = 30_000 }: { from?: number; pred?: (m: Of<T>) => boolean; timeoutMs?: number } = {},
  ): Promise<Arrival<Of<T>>> {
    const deadline = performance.now() + timeoutMs;
    let seen = from;
    for (;;) {
      for (; seen < arrivals.length; seen++) {
        const a = arrivals[seen]!;
        if (a.message.type === type && pred(a.message as Of<T>)) return a as Arrival<Of<T>>;
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`agent ${pid} exited (${child.exitCode ?? child.signalCode}) before "${type}"; output:\n${agent.output().slice(-2000)}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        const last = arrivals.slice(-5).map((a) => a.message);
        throw new Error(`agent ${pid}: no "${type}" within ${timeoutMs} ms; last messages: ${JSON.stringify(last)}; output:\n${agent.output().slice(-2000)}`);
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        waiters.add(done);
      });
    }
  }

  return { pid, startedAt, arrivals, find, stop: agent.stop };
}
