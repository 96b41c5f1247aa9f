// A long first clone from a slow remote: /status/{name} shows its progress while it runs, the
// log says it is alive every 10 s, and both are gone once it is published.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
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

test('a remote that writes lies, secrets and markup in its progress lines gets none of it into /status, the page or the logs', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const app = await RemoteRepo.create(serveRoot, 'app');
  const files: Record<string, string> = {};
  for (let i = 0; i < 120; i++) files[`f-${i}.txt`] = randomBytes(3_000).toString('base64');
  const head = await app.commit(files);
  // The remote's pack-objects hook (protected config, as a server's admin sets it) writes onto the
  // sideband, which the client prints as "remote: …" lines, for a few seconds before packing.
  const hook = join(root, 'hostile-hook');
  await writeFile(hook, [
    '#!/bin/sh',
    `: > '${join(root, 'hook-ran')}'`,
    'i=0',
    'while [ $i -lt 30 ]; do',
    "  printf 'Receiving objects: 100%% (1/1), 999.00 GiB | 1 GiB/s, done.\\n' >&2",
    "  printf 'Resolving deltas:  99%% (1/1)\\r' >&2",
    "  printf 'Counting objects: 50%% (1/2), 7.00 GiB https://u:hunter2-remote@h.example/ <script>alert(1)</script>\\r' >&2",
    '  i=$((i+1)); sleep 0.1',
    'done',
    'exec "$@"',
    '',
  ].join('\n'));
  await chmod(hook, 0o755);
  const config = join(root, 'hostile.gitconfig');
  await writeFile(config, `[uploadpack]\n\tpackObjectsHook = ${hook}\n`);
  const gitd = await startGitDaemon(t, serveRoot, { GIT_CONFIG_GLOBAL: config });
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify([{ name: 'app', path: join(root, 'data', 'app'), repo: gitd.url('app'), branch: 'main' }]));
  const daemon = startDaemon(t, { LISTING_PATH: listing });
  const base = await daemon.httpUrl();

  const seen: Progress[] = [];
  const texts: string[] = [];
  await waitFor(
    async () => {
      const res = await fetch(`${base}/status/app`);
      const json = await res.text();
      texts.push(json, await (await fetch(`${base}/`)).text());
      // Before the daemon has read its listing (a loaded machine), the entry is not there yet: 404.
      if (res.status !== 200) return false;
      const s = JSON.parse(json) as { progress: Progress | null; publishedCommit: string | null };
      if (s.progress !== null) seen.push(s.progress);
      return s.publishedCommit === head;
    },
    { timeoutMs: 120_000, intervalMs: 200, message: 'app published' },
  );
  assert.ok(existsSync(join(root, 'hook-ran')), 'the remote did send its lines');
  assert.ok(seen.some((p) => p.phase === 'counting' && p.percent === 50), `the remote's own phase is shown, as a number: ${JSON.stringify(seen)}`);
  for (const p of seen) {
    assert.deepEqual(Object.keys(p).sort(), ['bytes', 'percent', 'phase']);
    assert.ok(p.bytes === null || p.bytes < 10_000_000, `no byte count from the remote: ${JSON.stringify(p)}`);
    assert.ok(p.phase === 'counting' || p.phase === 'compressing' || p.bytes !== null, `our phases only from our git: ${JSON.stringify(p)}`);
  }
  for (const text of [...texts, daemon.output()]) {
    assert.ok(!text.includes('hunter2-remote'), 'the remote\'s secret-looking text is nowhere');
    assert.ok(!text.includes('alert(1)'), 'nor its markup, escaped or not');
  }
});
