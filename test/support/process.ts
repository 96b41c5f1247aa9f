// Runs a server as a child process for a test: start it on a free port, wait until it
// really listens there, and stop it (SIGTERM, then SIGKILL) when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort, waitFor, type Cleanup } from './tmp.js';

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
export function canConnect(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface ServerProcess {
  readonly port: number;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far (the tail, if long). */
  output(): string;
  stop(): Promise<void>;
}

export interface ServerProcessSpec {
  /** Used in error messages. */
  name: string;
  command: string;
  /** Built per attempt, because each attempt gets a new port. */
  args(port: number): string[] | Promise<string[]>;
  /** Text the server prints once it has bound its port: proves it is *our* process listening there. */
  readyText(port: number): string;
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
}

const maxOutputChars = 64 * 1024;
const attempts = 3;

export async function startServerProcess(t: Cleanup, spec: ServerProcessSpec): Promise<ServerProcess> {
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = await freePort();
    try {
      return await startOnce(t, spec, port);
    } catch (error) {
      // freePort's port can be taken by someone else before the server binds it.
      if (!(error instanceof PortInUseError)) throw error;
      lastError = error;
    }
  }
  throw new Error(`${spec.name}: no free port after ${attempts} attempts`, { cause: lastError });
}

class PortInUseError extends Error {}

async function startOnce(t: Cleanup, spec: ServerProcessSpec, port: number): Promise<ServerProcess> {
  const child = spawn(spec.command, await spec.args(port), {
    env: spec.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep our own handle on this exact child so stop() can never signal a recycled pid.
  const stop = stopper(child);
  t.after(stop);

  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-maxOutputChars);
  };
  // Reading both pipes also keeps a chatty server from blocking on a full pipe.
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  const ready = spec.readyText(port);
  // waitFor treats a throwing check as "not yet", so a dead server is reported as a
  // value, to stop waiting at once instead of at the deadline.
  let outcome: { failed: Error } | { ok: true };
  try {
    outcome = await waitFor(
      async () => {
        if (spawnError) return { failed: new Error(`${spec.name}: could not start ${spec.command}: ${spawnError.message}`) };
        if (child.exitCode !== null || child.signalCode !== null) {
          const how = child.exitCode !== null ? `exit code ${child.exitCode}` : `signal ${child.signalCode}`;
          const message = `${spec.name} exited during start-up (${how}); its output:\n${output}`;
          return { failed: /address already in use/i.test(output) ? new PortInUseError(message) : new Error(message) };
        }
        return output.includes(ready) && (await canConnect(port)) && { ok: true as const };
      },
      { timeoutMs: spec.startTimeoutMs ?? 15_000, message: `${spec.name} listening on 127.0.0.1:${port}` },
    );
  } catch (error) {
    outcome = { failed: new Error(`${(error as Error).message}\n${spec.name} output:\n${output}`, { cause: error }) };
  }
  if ('failed' in outcome) {
    await stop();
    throw outcome.failed;
  }

  const pid = child.pid;
  if (pid === undefined) throw new Error(`${spec.name}: child has no pid`);
  return { port, pid, output: () => output, stop };
}

/** An idempotent stop for one child: SIGTERM, wait (bounded), then SIGKILL. */
export function stopper(child: ChildProcess, graceMs = 5000): () => Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
    child.once('error', () => resolve()); // never spawned: nothing to wait for
  });
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
    })();
    return stopping;
  };
}

/** PIDs of the processes for which `matches` holds; one that fails to be read (gone meanwhile) does not. */
export function processesWhere(matches: (pid: number) => boolean): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return matches(pid);
      } catch {
        return false;
      }
    });
}
