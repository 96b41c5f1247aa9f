import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { makeTempDir } from '../support/tmp.js';

// A reader in its own process: resolves the published path once per read, then reads two files
// that every commit writes with the same value. Any difference is a torn read.
const READER = `
const fs = require('node:fs');
const [path, stopFile] = process.argv.slice(1);
let reads = 0, mismatches = 0, missing = 0;
const seen = new Set();
while (!fs.existsSync(stopFile)) {
  let dir;
  try { dir = fs.realpathSync(path); } catch { continue; } // not published yet
  try {
    const a = fs.readFileSync(dir + '/a.txt', 'utf8');
    const b = fs.readFileSync(dir + '/sub/b.txt', 'utf8');
    reads++; seen.add(a);
    if (a !== b) mismatches++;
  } catch { missing++; }
}
process.stdout.write(JSON.stringify({ reads, mismatches, missing, distinct: seen.size }));
`;

test('a reader never sees a mix of two commits or a missing file while 50 commits are pushed quickly', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const remote = await RemoteRepo.create(serveRoot, 'app');
  const filler = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`filler/f${i}.txt`, `${i}\n`.repeat(200)]));
  await remote.commit({ 'a.txt': '0', 'sub/b.txt': '0', ...filler });
  const daemon = await startGitDaemon(t, serveRoot);
  const path = join(root, 'data', 'app');
  const agent = await startAgent(t, { path, repo: daemon.url('app'), branch: 'main', interval: 100, staleAfter: 2000 });
  await agent.waitForMessage('synced');

  const stopFile = join(root, 'stop-reader');
  // stderr not inherited: a reader left behind must never hold the runner's output open (it once
  // hung `npm test` after its summary); support/children.ts kills it by pid should the test time out.
  const reader = spawn(process.execPath, ['-e', READER, path, stopFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => reader.kill('SIGKILL'));
  reader.stderr.resume();
  let out = '';
  reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const readerDone = new Promise<void>((resolve) => reader.on('exit', () => resolve()));

  let last = '';
  for (let i = 1; i <= 50; i++) last = await remote.commit({ 'a.txt': String(i), 'sub/b.txt': String(i) });
  await agent.waitForMessage('synced', (m) => m.commit === last, 60_000);
  await writeFile(stopFile, '');
  await readerDone;
  const result = JSON.parse(out) as { reads: number; mismatches: number; missing: number; distinct: number };
  t.diagnostic(`reader: ${JSON.stringify(result)}`);
  assert.ok(result.reads > 100, `the reader was reading throughout (${result.reads} reads)`);
  assert.ok(result.distinct > 2, `the reader saw several commits published (${result.distinct})`);
  assert.equal(result.mismatches, 0, 'no torn reads');
  assert.equal(result.missing, 0, 'never a missing file');
});
