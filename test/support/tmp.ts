// Small test primitives: temp dirs that clean themselves up, bounded polling
// instead of sleeps, and a free port on 127.0.0.1.
import { rmSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { inspect } from 'node:util';
import './children.js'; // every child a test starts is killed by pid when its file ends

/**
 * How much slower than a quiet machine this one is: TEST_SLOWDOWN when set (test/run.mjs measures
 * it once and passes it to every file), else the 1-minute load per core, at least 1 and at most 8.
 * Every waitFor deadline is multiplied by it: a loaded machine gets more time, never a false failure.
 */
export const SLOWDOWN = slowdown();

function slowdown(): number {
  const fromEnv = Number(process.env.TEST_SLOWDOWN);
  if (Number.isFinite(fromEnv) && fromEnv >= 1) return fromEnv;
  return Math.min(8, Math.max(1, Math.ceil((loadavg()[0]! / Math.max(1, availableParallelism())) * 2) / 2));
}

/** A deadline for a quiet machine, scaled to this one. */
export const scaled = (ms: number): number => Math.round(ms * SLOWDOWN);

/** The part of node:test's TestContext the fixtures need, so they accept any test or suite context. */
export interface Cleanup {
  after(fn: () => unknown): void;
}

export async function makeTempDir(t: Cleanup, prefix = 'gas-'): Promise<string> {
  // realpath: os.tmpdir() may be a symlink (macOS /var → /private/var), and git
  // prints resolved paths, so tests comparing paths would otherwise disagree.
  const dir = await realpath(await mkdtemp(join(tmpdir(), prefix)));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  leftovers.add(dir);
  return dir;
}

// node:test runs a test's `after` hooks in the order they were added: the temp dir made first is
// removed before the daemon started in it is stopped, and an agent polling in that gap re-creates
// its state folder. Once every hook has run (each test file is a process), whatever came back goes.
const leftovers = new Set<string>();
// Also on a stop by signal (support/children.ts exits then): its SIGKILLed children may still be
// writing for a moment, so each folder gets retries, and one that resists does not spare the rest.
process.once('exit', () => {
  for (const dir of leftovers) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch {
      // left for the next run's tmp cleaner; nothing more can be done in an exit handler
    }
  }
});

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What was awaited; a function is called at the timeout, so it can describe the state then (a log's tail). */
  message?: string | (() => string);
}

/** T without its falsy members, so `() => ready && value` yields just the value's type. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

/**
 * Polls `check` until it returns a truthy value and returns that value. A check that
 * throws counts as "not yet"; a check that hangs is cut off at the deadline.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<Truthy<T>> {
  const { intervalMs = 50, message = 'condition' } = opts;
  const timeoutMs = scaled(opts.timeoutMs ?? 20_000);
  const deadline = Date.now() + timeoutMs;
  let last: { error: unknown } | { value: unknown } = { value: undefined };
  for (;;) {
    const remaining = deadline - Date.now();
    try {
      const value = await withDeadline(Promise.resolve().then(check), remaining);
      if (value) return value as Truthy<T>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      const detail =
        'error' in last
          ? `last error: ${last.error instanceof Error ? last.error.message : inspect(last.error)}`
          : `last value: ${inspect(last.value)}`;
      throw new Error(`waitFor: ${typeof message === 'function' ? message() : message} not met within ${timeoutMs} ms (slowdown ${SLOWDOWN}); ${detail}`, {
        cause: 'error' in last ? last.error : undefined,
      });
    }
    await delay(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

const deadlinePassed = Symbol('deadline passed');

async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  const timer = delay(Math.max(0, ms), deadlinePassed, { signal: controller.signal }).catch(() => undefined);
  try {
    const winner = await Promise.race([promise, timer]);
    if (winner === deadlinePassed) throw new Error(`check still running after ${ms} ms`);
    return winner as T;
  } finally {
    controller.abort();
  }
}

/**
 * A port nobody listens on right now. Another process can still take it before the
 * caller binds it; the server starters notice that and retry.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected server address ${inspect(address)}`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
