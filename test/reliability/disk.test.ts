import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { RemoteRepo } from '../support/git-repo.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { serveRepos } from '../support/served-repos.js';
import { makeTempDir } from '../support/tmp.js';

/** A small tmpfs of our own (root only), unmounted and removed after the test. */
function smallDisk(t: { after(fn: () => unknown): void }, sizeMb: number): string | null {
  if (process.getuid?.() !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'gas-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir]);
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  // The agent may re-create its folder here before its own clean-up stops it (hooks run in order).
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const remount = (dir: string, options: string) => execFileSync('mount', ['-o', `remount,${options}`, dir]);
const canMount = (() => {
  const probe = { after: (fn: () => unknown) => void fn() };
  return smallDisk(probe, 1) !== null;
})();
const skip = canMount ? false : 'needs root and tmpfs mounts (mount -t tmpfs), which this machine does not allow';

async function setup(t: Parameters<typeof makeTempDir>[0], sizeMb: number) {
  const disk = smallDisk(t, sizeMb)!;
  const s = await serveRepos(t, { app: { 'v.txt': 'small\n' } });
  return { disk, repo: s.repos.app, first: s.heads.app, url: s.git.url('app'), path: join(disk, 'app') };
}

test('a full disk fails the sync cleanly, keeps the last good tree, and recovers when space returns', { skip }, async (t) => {
  const { disk, repo, first, url, path } = await setup(t, 8);
  const agent = await startAgent(t, { path, repo: url, branch: 'main', staleAfter: 0 });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  // Random bytes do not compress: this commit cannot fit in 8 MB.
  const big = await repo.commit({ 'big.bin': randomBytes(12 * 1024 * 1024).toString('base64') });
  const failed = await agent.waitForMessage('failed', undefined, 30_000);
  assert.equal(failed.error.kind, 'local-state');
  assert.match(failed.error.message, /No space left on device|unable to write|failed to write/i);
  assert.equal(publishedCommit(path), first);
  assert.equal(readPublishedFile(path, 'v.txt'), 'small\n', 'the last good tree is whole');
  remount(disk, 'size=100m');
  await agent.waitForMessage('synced', (m) => m.commit === big, 60_000);
  const packs = readdirSync(join(stateDirOf(path), 'repo.git', 'objects', 'pack'));
  assert.ok(!packs.some((p) => p.startsWith('tmp_')), `no temporary packs left: ${packs.join(', ')}`);
});

test('a read-only state folder fails the sync with a clear error and recovers when writable again', { skip }, async (t) => {
  const { disk, repo, first, url, path } = await setup(t, 50);
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  remount(disk, 'ro');
  const second = await repo.commit({ 'v.txt': 'second\n' });
  const failed = await agent.waitForMessage('failed', undefined, 30_000);
  assert.equal(failed.error.kind, 'local-state');
  assert.match(failed.error.message, /Read-only file system/i);
  assert.equal(readFileSync(join(path, 'v.txt'), 'utf8'), 'small\n');
  remount(disk, 'rw');
  await agent.waitForMessage('synced', (m) => m.commit === second, 60_000);
});

test('a fetch that fills the disk leaves no partial pack behind, so the small entry beside it still publishes', { skip }, async (t) => {
  const { disk, repo, first, url, path } = await setup(t, 20);
  const small = await startAgent(t, { path, repo: url, branch: 'main' });
  await small.waitForMessage('synced', (m) => m.commit === first);
  // A repo bigger than the volume: random bytes do not compress.
  const bigRepo = await RemoteRepo.create(join(repo.bareDir, '..'), 'big');
  await bigRepo.commit({ 'big.bin': randomBytes(22 * 1024 * 1024).toString('base64') });
  const bigPath = join(disk, 'big');
  const big = await startAgent(t, { path: bigPath, repo: url.replace(/app\.git$/, 'big.git'), branch: 'main', timeout: 180_000 });
  const failed = await big.waitForMessage('failed', undefined, 60_000);
  assert.match(failed.error.message, /No space left on device|unable to write|failed to write|early EOF|index-pack/i);
  await big.stop();
  const objects = join(stateDirOf(bigPath), 'repo.git', 'objects');
  const temps = readdirSync(objects, { recursive: true }).map(String).filter((f) => /(^|\/)(tmp_|\.tmp-)/.test(f));
  assert.deepEqual(temps, [], 'no partial objects or packs left by the failed fetch');
  const next = await repo.commit({ 'v.txt': 'next\n' });
  await small.waitForMessage('synced', (m) => m.commit === next, 120_000);
  assert.equal(readPublishedFile(path, 'v.txt'), 'next\n');
});
