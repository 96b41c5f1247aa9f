// Watching the published path as a reader would see it, every 2 ms, bounded in time: the
// symlink's target (symlink mode), or what the directory at `path` holds (exchange mode).

import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';

const POLL_MS = 2;

/** The publish modes the bench compares: both atomic, one a symlink, one a real directory. */
export type BenchMode = 'symlink' | 'exchange';

/** performance.now() at the first sample where `seen()` is true; `last()` describes the miss. */
async function waitUntil(seen: () => boolean, timeoutMs: number, failure: () => string): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ok = seen();
    const now = performance.now();
    if (ok) return now;
    if (now > deadline) throw new Error(`${failure()} within ${timeoutMs} ms`);
    await delay(POLL_MS);
  }
}

/** performance.now() at the first readlink of `path` that names `commit` (any commit when null). */
export async function waitForLink(path: string, commit: string | null, timeoutMs: number): Promise<number> {
  let last: string | null = null;
  const seen = () => {
    try {
      last = readlinkSync(path);
    } catch {
      last = null;
    }
    return last !== null && (commit === null || basename(last) === commit);
  };
  return waitUntil(seen, timeoutMs, () => `${path} did not name ${commit ?? 'any commit'} (last: ${last ?? 'no link'})`);
}

/**
 * performance.now() at the first sample where `path` shows what a reader waits for: in symlink
 * mode the link naming `commit`; in exchange mode (no link to read) a directory whose `file`
 * holds `content` (any directory when `file` is null).
 */
export async function waitForPublished(mode: BenchMode, path: string, expect: { commit: string | null; file: string | null; content: string }, timeoutMs: number): Promise<number> {
  if (mode === 'symlink') return waitForLink(path, expect.commit, timeoutMs);
  const seen = () => {
    if (expect.file === null) return lstatSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
    try {
      return readFileSync(join(path, expect.file), 'utf8') === expect.content;
    } catch {
      return false;
    }
  };
  return waitUntil(seen, timeoutMs, () => `${path} did not show ${expect.file ?? 'a directory'}`);
}
