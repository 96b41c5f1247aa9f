// A long first clone from a slow remote: /status/{name} shows its progress while it runs, the
// log says it is alive every 10 s, and both are gone once it is published.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { startThrottleProxy } from '../support/throttle-proxy.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

interface Progress {
  phase: string;
  percent: number | null;
  bytes: number | null;
}

test('a slow first clone shows growing progress in /status, logs while it lasts, and clears it once published', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const big = await RemoteRepo.create(serveRoot, 'big');
  // About 18 MB of pack (base64 of random bytes compresses to ~3/4), in 120 files: more objects
  // than fetch.unpackLimit (100), as any real first clone has, so git keeps the pack and says what
  // it receives (unpack-objects, used for fewer objects, prints no progress to a pipe).
  const files: Record<string, string> = {};
  for (let i = 0; i < 120; i++) files[`blob-${i}.txt`] = randomBytes(150_000).toString('base64');
  const head = await big.commit(files);
  const gitd = await startGitDaemon(t, serveRoot);
  // 1.5 MB/s: the fetch lasts about 12 s, past the 10 s after which the log speaks up.
  const slow = await startThrottleProxy(t, gitd.port, 1_500_000);
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify([{ name: 'big', path: join(root, 'data', 'big'), repo: `git://127.0.0.1:${slow.port}/big.git`, branch: 'main', timeout: 300_000 }]));
  const daemon = startDaemon(t, { LISTING_PATH: listing });
  const base = await daemon.httpUrl();

  const seen: Progress[] = [];
  const published = await waitFor(
    async () => {
      const res = await fetch(`${base}/status/big`);
      const s = (await res.json()) as { progress: Progress | null; publishedCommit: string | null; history: Array<{ result: string; commit: string | null }> };
      if (s.progress !== null && JSON.stringify(s.progress) !== JSON.stringify(seen.at(-1))) seen.push(s.progress);
      return s.publishedCommit === head && s;
    },
    { timeoutMs: 240_000, intervalMs: 200, message: 'big published' },
  );
  assert.equal(published.progress, null, 'no progress once the sync is over');
  assert.deepEqual(published.history.map((h) => [h.result, h.commit]), [['synced', head]]);

  for (const p of seen) assert.deepEqual(Object.keys(p).sort(), ['bytes', 'percent', 'phase'], 'numbers and a phase only');
  const receiving = seen.filter((p) => p.phase === 'receiving' && p.bytes !== null).map((p) => p.bytes!);
  assert.ok(receiving.length >= 3, `several receiving figures seen while it ran: ${JSON.stringify(seen)}`);
  assert.ok(receiving.every((b, i) => i === 0 || b > receiving[i - 1]!), `bytes grow: ${receiving.join(', ')}`);
  assert.ok(receiving.at(-1)! > 5_000_000 && receiving.at(-1)! <= slow.sent(), `figures are real bytes (${receiving.at(-1)} of ${slow.sent()} sent)`);

  const alive = daemon.lines.filter((l) => l.message === 'sync in progress' && l.repo === 'big');
  assert.ok(alive.length >= 1, 'a sync longer than 10 s logs how far it is');
  assert.ok(alive.some((l) => typeof l.bytes === 'number' && l.bytes > 0 && typeof l.elapsedMs === 'number' && l.elapsedMs >= 10_000), JSON.stringify(alive));
});
