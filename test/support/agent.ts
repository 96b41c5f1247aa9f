// Starts a real repo agent process (compiled dist/, as production forks it) with IPC, feeds it an
// entry and records every message and output line, so tests can wait on outcomes.

import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolveEntry, type AgentDefaults, type SharedStore } from '../../src/shared/listing-schema.js';
import { parseAgentMessage, PROTOCOL_VERSION, type AgentMessage } from '../../src/shared/protocol.js';
import { waitFor } from './tmp.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export const TEST_DEFAULTS: AgentDefaults = { intervalMs: 200, timeoutMs: 20_000, staleAfterMs: 200, depth: 1 };

export interface RunningAgent {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly messages: AgentMessage[];
  /** Everything the process wrote, stdout and stderr together. */
  output(): string;
  waitForMessage<T extends AgentMessage['type']>(
    type: T,
    pred?: (m: Extract<AgentMessage, { type: T }>) => boolean,
    timeoutMs?: number,
  ): Promise<Extract<AgentMessage, { type: T }>>;
  send(message: unknown): void;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

export async function startAgent(
  t: { after(fn: () => unknown): void },
  entry: Record<string, unknown>,
  opts: { defaults?: Partial<AgentDefaults>; env?: NodeJS.ProcessEnv; mode?: 'continuous' | 'once'; uid?: number; gid?: number; store?: SharedStore } = {},
): Promise<RunningAgent> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
  // As the supervisor does: validate and resolve the entry, then hand the agent the result.
  const resolved = resolveEntry(entry, 0, { ...TEST_DEFAULTS, ...opts.defaults });
  if ('errors' in resolved) throw new Error(resolved.errors.map((e) => e.message).join('\n'));
  const child = fork(CLI, ['--agent'], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, LOG_LEVEL: 'debug', ...opts.env },
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? 0 }),
  });
  const messages: AgentMessage[] = [];
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let configured = false;
  child.on('message', (raw) => {
    const m = parseAgentMessage(raw);
    if (m === null) throw new Error(`malformed agent message: ${JSON.stringify(raw)}`);
    messages.push(m);
    if (m.type === 'hello' && !configured) {
      configured = true;
      // A shared store is the supervisor's decision (supervisor/stores.ts); tests may name one.
      const entry = opts.store === undefined ? resolved.entry : { ...resolved.entry, store: opts.store };
      child.send({ type: 'configure', protocolVersion: PROTOCOL_VERSION, entry, mode: opts.mode ?? 'continuous', heartbeatMs: 1000 });
    }
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('agent did not start');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  t.after(stop);
  return {
    child,
    pid,
    messages,
    output: () => out,
    exited,
    send: (m) => child.send(m as object),
    stop,
    async waitForMessage(type, pred = () => true, timeoutMs = 30_000) {
      let seen = 0;
      return waitFor(
        () => {
          for (; seen < messages.length; seen++) {
            const m = messages[seen]!;
            if (m.type === type && pred(m as never)) return m as never;
          }
          if (child.exitCode !== null) throw new Error(`agent exited (${child.exitCode}) before "${type}"; output:\n${out.slice(-2000)}`);
          return null;
        },
        { timeoutMs, message: () => `agent message "${type}" (messages seen: ${messages.length}; the last: ${describeLast(messages)})\noutput:\n${out.slice(-2000)}` },
      );
    },
  };
}

/** The last few messages, short: their types, and a failure's kind and message, for a timeout's report. */
function describeLast(messages: readonly AgentMessage[]): string {
  return messages.slice(-6).map((m) => (m.type === 'failed' ? `failed(${m.error.kind}: ${m.error.message.slice(0, 300)})` : m.type)).join(', ') || 'none';
}

/** Messages the agent sent after `from` (an index into messages). */
export function since(agent: RunningAgent, from: number): AgentMessage[] {
  return agent.messages.slice(from);
}
