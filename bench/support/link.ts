// Watching the published path as a reader would see it: readlink every 2 ms, bounded in time.

import { readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';

const POLL_MS = 2;

/** performance.now() at the first readlink of `path` that names `commit` (any commit when null). */
export async function waitForLink(path: string, commit: string | null, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last: string | null = null;
  for (;;) {
    try {
      last = readlinkSync(path);
    } catch {
      last = null;
    }
    const now = performance.now();
    if (last !== null && (commit === null || basename(last) === commit)) return now;
    if (now > deadline) throw new Error(`${path} did not name ${commit ?? 'any commit'} within ${timeoutMs} ms (last: ${last ?? 'no link'})`);
    await delay(POLL_MS);
  }
}
