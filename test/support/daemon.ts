// Runs the real daemon (`node dist/cli.js`) as a process, as a user would, and collects its JSON
// log lines so tests can wait on them.

import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './agent.js';
import { waitFor, type Cleanup } from './tmp.js';

export type LogLine = Record<string, unknown> & { message: string; level: string };

export interface RunningDaemon {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: LogLine[];
  output(): string;
  waitForLog(pred: (l: LogLine) => boolean, message: string, timeoutMs?: number): Promise<LogLine>;
  /** Base URL of the daemon's HTTP server, once it listens. */
  httpUrl(): Promise<string>;
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export function startDaemon(t: Cleanup, env: NodeJS.ProcessEnv): RunningDaemon {
  const child = spawn(process.execPath, [CLI], {
    // Port 0: each daemon gets a free loopback port, announced in its "http listening" line.
    env: { ...process.env, LOG_LEVEL: 'debug', LOG_FORMAT: 'json', HTTP_BIND: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watchDaemon(t, child);
}

/**
 * A daemon process started some other way (the production tree's entry point, say), logging
 * JSON on stdout: its log lines, its HTTP address, and a stop that the test's clean-up calls.
 */
export function watchDaemon(t: Cleanup, child: ChildProcess): RunningDaemon {
  const lines: LogLine[] = [];
  let out = '';
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ message: p, level: 'raw' });
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  t.after(() => stop());
  if (child.pid === undefined) throw new Error('daemon did not start');
  return {
    child,
    pid: child.pid,
    lines,
    output: () => out,
    exited,
    stop,
    waitForLog: (pred, message, timeoutMs = 30_000) =>
      waitFor(() => lines.find(pred), { timeoutMs, message: () => `${message}; output tail:\n${out.slice(-3000)}` }),
    httpUrl: async () => {
      const line = await waitFor(() => lines.find((l) => l.message === 'http listening'), { message: () => `http listening; output tail:\n${out.slice(-3000)}` });
      return `http://${String(line.address)}`;
    },
  };
}
