import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { oneRemote } from '../support/agent-fixture.js';
import { startAgent } from '../support/agent.js';
import { startBlackhole } from '../support/blackhole.js';
import { isAlive, processesIn, stallingGit } from '../support/fault-git.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { makeTempDir, waitFor } from '../support/tmp.js';


test('kill -9 during a fetch, then a restart heals: leftover git killed, stale locks removed, head published', async (t) => {
  const { root, remote, first, url, path } = await oneRemote(t);
  const stall = join(root, 'stall');
  const stalled = join(root, 'stalled-pid');
  const bin = await stallingGit(root, stall, stalled);
  const env = { PATH: `${bin}:${process.env.PATH}` };
  const entry = { path, repo: url, branch: 'main', timeout: 60_000 };

  const agent = await startAgent(t, entry, { env });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  await writeFile(stall, '');
  const second = await remote.commit({ 'version.txt': '2\n' });
  const stalledPid = Number(await waitFor(() => (existsSync(stalled) ? readFileSync(stalled, 'utf8').trim() : ''), { message: 'fetch stalled' }));
  // What a git killed mid-command leaves behind.
  const gitDir = join(stateDirOf(path), 'repo.git');
  await writeFile(join(gitDir, 'shallow.lock'), '');
  await writeFile(join(gitDir, 'index.lock'), '');
  process.kill(agent.pid, 'SIGKILL');
  await agent.exited;
  assert.ok(isAlive(stalledPid), 'the stalled fetch outlived its agent');
  assert.equal(publishedCommit(path), first, 'the last good tree stays published');

  await unlink(stall);
  const restarted = await startAgent(t, entry, { env });
  const ready = await restarted.waitForMessage('ready');
  assert.equal(ready.publishedCommit, first, 'the restarted agent adopts what is published');
  await restarted.waitForMessage('synced', (m) => m.commit === second);
  assert.equal(readPublishedFile(path, 'version.txt'), '2\n');
  assert.ok(!existsSync(join(gitDir, 'shallow.lock')) && !existsSync(join(gitDir, 'index.lock')), 'stale locks removed');
  await waitFor(() => !isAlive(stalledPid), { message: 'leftover fetch killed' });
});

test('a deleted symlink is restored', async (t) => {
  const { first, url, path } = await oneRemote(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  await unlink(path);
  await waitFor(() => publishedCommit(path) === first, { message: 'symlink restored' });
  assert.equal(readPublishedFile(path, 'version.txt'), '1\n');
});

test('a corrupt git folder is re-created while the last good tree stays published', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  const gitDir = join(stateDirOf(path), 'repo.git');
  await rm(join(gitDir, 'objects'), { recursive: true, force: true });
  await writeFile(join(gitDir, 'HEAD'), 'garbage\n');
  const second = await remote.commit({ 'version.txt': '2\n' });
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'local-state');
  assert.equal(readPublishedFile(path, 'version.txt'), '1\n', 'old tree still served after the failure');
  await agent.waitForMessage('synced', (m) => m.commit === second);
  assert.equal(readPublishedFile(path, 'version.txt'), '2\n');
});

test('a hung remote times out, its git processes are killed, and the agent retries with backoff', async (t) => {
  const root = await makeTempDir(t);
  const hole = await startBlackhole(t);
  const path = join(root, 'data', 'app');
  const agent = await startAgent(t, { path, repo: `git://127.0.0.1:${hole.port}/app.git`, branch: 'main', timeout: 1000 });
  const first = await agent.waitForMessage('failed', undefined, 15_000);
  assert.equal(first.error.kind, 'timeout');
  assert.match(first.error.message, /did not finish within 1s and was killed/);
  const second = await agent.waitForMessage('failed', (m) => m.consecutiveFailures === 2, 15_000);
  assert.ok(second.retryInMs > first.retryInMs * 1.2, `backoff grows: ${first.retryInMs} then ${second.retryInMs}`);
  await waitFor(() => processesIn(stateDirOf(path)).length === 0, { message: 'no git left running', timeoutMs: 10_000 });
  assert.equal(publishedCommit(path), null);
});

test('a remote that goes away keeps the last good tree published and is reported', async (t) => {
  const { first, daemon, url, path } = await oneRemote(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  await daemon.stop();
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'network');
  assert.equal(publishedCommit(path), first);
  assert.equal(readPublishedFile(path, 'version.txt'), '1\n');
});

test('a half-made worktree for the commit to publish is replaced by a complete one', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const entry = { path, repo: url, branch: 'main' };
  const agent = await startAgent(t, entry);
  await agent.waitForMessage('synced', (m) => m.commit === first);
  await agent.stop();
  const second = await remote.commit({ 'version.txt': '2\n', 'more.txt': 'more\n' });
  // What a crash mid-checkout leaves: a folder for the commit with part of its files.
  const half = join(stateDirOf(path), 'worktrees', second);
  await mkdir(half, { recursive: true });
  await writeFile(join(half, 'version.txt'), 'partial');
  const restarted = await startAgent(t, entry);
  await restarted.waitForMessage('synced', (m) => m.commit === second);
  assert.equal(readPublishedFile(path, 'version.txt'), '2\n');
  assert.equal(readPublishedFile(path, 'more.txt'), 'more\n');
});

test('a path whose folder is a symlink out of SYNC_ROOT is refused and nothing is written there', async (t) => {
  const { root, url } = await oneRemote(t);
  const syncRoot = join(root, 'root');
  const outside = join(root, 'outside');
  await mkdir(syncRoot, { recursive: true });
  await mkdir(outside, { recursive: true });
  await symlink(outside, join(syncRoot, 'escape'));
  const agent = await startAgent(t, { path: join(syncRoot, 'escape', 'deeper', 'app'), repo: url, branch: 'main' }, { defaults: { syncRoot } });
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'config');
  assert.match(failed.error.message, /outside SYNC_ROOT/);
  assert.deepEqual(readdirSync(outside), []);
});
