// src/repo-agent/git-progress.ts and sync-progress.ts: git's --progress stderr read into a closed
// phase and two numbers, and passed on at most once a second.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AgentMessage, FetchProgress } from '../../src/shared/protocol.js';
import { parseProgressLine, ProgressReader, withoutProgress } from '../../src/repo-agent/git-progress.js';
import { SyncProgress } from '../../src/repo-agent/sync-progress.js';
import { fixtureGitEnv, git, RemoteRepo } from '../support/git-repo.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

/** A real fetch's stderr, as the agent's git writes it. */
function fetchStderr(cwd: string, url: string): Promise<{ code: number | null; stderr: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['fetch', '--progress', '--no-tags', url, '+HEAD:refs/x'], { cwd, env: { ...process.env, ...fixtureGitEnv, LC_ALL: 'C' } });
    const chunks: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr: Buffer.concat(chunks) }));
  });
}

test('a real fetch\'s progress reads as phases in order with a growing byte count near the pack\'s size', async (t) => {
  const root = await makeTempDir(t);
  const remote = await RemoteRepo.create(join(root, 'remotes'), 'big');
  // More objects than fetch.unpackLimit (100): git keeps the pack and says "Receiving objects".
  const files: Record<string, string> = {};
  for (let i = 0; i < 150; i++) files[`f${i}.bin`] = randomBytes(16 * 1024).toString('base64');
  await remote.commit(files);
  const into = join(root, 'into.git');
  await git(root, ['init', '--quiet', '--bare', into]);
  const { code, stderr } = await fetchStderr(into, `file://${remote.bareDir}`);
  assert.equal(code, 0, stderr.toString());

  const seen: FetchProgress[] = [];
  const reader = new ProgressReader((p) => seen.push(p));
  // In uneven pieces, as a pipe hands them over: lines split anywhere still read whole.
  for (let at = 0; at < stderr.length; ) {
    const n = 1 + ((at * 7) % 23);
    reader.write(stderr.subarray(at, at + n));
    at += n;
  }
  const phases = seen.map((p) => p.phase).filter((p, i, all) => p !== all[i - 1]);
  assert.deepEqual(phases.filter((p) => p !== 'compressing'), ['counting', 'receiving'].concat(phases.includes('resolving') ? ['resolving'] : []));
  const bytes = seen.map((p) => p.bytes).filter((b): b is number => b !== null);
  assert.ok(bytes.length > 0, 'bytes are reported while receiving');
  assert.deepEqual(bytes, [...bytes].sort((a, b) => a - b), 'bytes never go down');
  const packs = (await git(into, ['count-objects', '-v'])).match(/size-pack: (\d+)/);
  const packBytes = Number(packs?.[1]) * 1024;
  assert.ok(Math.abs(bytes.at(-1)! - packBytes) < packBytes * 0.1, `last figure ${bytes.at(-1)} is near the pack's ${packBytes} bytes`);
  assert.ok(seen.some((p) => p.phase === 'receiving' && p.percent === 100));
  assert.ok(!withoutProgress(stderr.toString('latin1')).includes('objects:'), 'an error message would keep none of it');
});

test('the remote\'s lines cannot claim our side\'s phases or bytes, and never bring text along', () => {
  const hostile = [
    'remote: Receiving objects: 100% (1/1), 999.00 GiB | 1 GiB/s, done.',
    'remote: Resolving deltas: 100% (1/1)',
    'remote: https://user:s3cret@h.example/x.git <script>alert(1)</script>',
    'remote: Counting objects: 50% (1/2), 5.00 GiB <script>',
    'Receiving objects: 7%  <img src=x>',
    'Receiving objects: 999% (1/1)',
  ];
  const out = hostile.map((l) => parseProgressLine(l, 1234));
  assert.deepEqual(out, [
    null,
    null,
    null,
    { phase: 'counting', percent: 50, bytes: 1234 },
    null,
    { phase: 'receiving', percent: 100, bytes: 1234 }, // a percent is never above 100
  ]);
  // Whatever it reads, only these three keys, a known phase and numbers come out.
  for (const p of out.filter((x) => x !== null)) assert.deepEqual(Object.keys(p).sort(), ['bytes', 'percent', 'phase']);
});

test('a remote that never ends a line cannot make the reader keep it', () => {
  const seen: FetchProgress[] = [];
  const reader = new ProgressReader((p) => seen.push(p));
  for (let i = 0; i < 1000; i++) reader.write('x'.repeat(1000));
  reader.write('\rReceiving objects:  10% (1/10), 1.00 KiB | 1 KiB/s\r');
  assert.deepEqual(seen, [{ phase: 'receiving', percent: 10, bytes: 1024 }]);
  assert.ok((reader as unknown as { partial: string }).partial.length <= 512);
});

test('progress goes out at most once a second, the last figure too, and nothing after the sync ends', async () => {
  const sent: AgentMessage[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const log = { error() {}, warn() {}, debug() {}, info: (_m: string, f: Record<string, unknown> = {}) => logs.push(f) };
  const p = new SyncProgress((m) => sent.push(m), log, 200, 300);
  p.update({ phase: 'receiving', percent: 1, bytes: 1 });
  assert.equal(sent.length, 0, 'outside a sync: nothing');
  p.begin();
  for (let i = 1; i <= 50; i++) p.update({ phase: 'receiving', percent: i, bytes: i * 100 });
  assert.equal(sent.length, 1, 'the first at once');
  await waitFor(() => sent.length === 2, { message: 'the held-back last figure' });
  assert.deepEqual(sent[1], { type: 'progress', progress: { phase: 'receiving', percent: 50, bytes: 5000 } });
  await waitFor(() => logs.length > 0, { message: 'a log line once the sync is long' });
  assert.deepEqual(logs[0], { elapsedMs: logs[0]!.elapsedMs, phase: 'receiving', percent: 50, bytes: 5000 });
  p.update({ phase: 'resolving', percent: 3, bytes: 5000 });
  p.end();
  const after = sent.length;
  const logged = logs.length;
  // The next sync's first log line comes after the held-back send would have gone (300 > 200 ms).
  p.begin();
  await waitFor(() => logs.length > logged, { message: 'the next sync logs' });
  p.end();
  assert.equal(sent.length, after, 'a held-back figure is dropped at the end');
  assert.deepEqual(logs.at(-1), { elapsedMs: logs.at(-1)!.elapsedMs, phase: null, percent: null, bytes: null }, 'a new sync starts knowing nothing');
});
