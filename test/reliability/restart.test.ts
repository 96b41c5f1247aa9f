import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { startDaemon } from '../support/daemon.js';
import { stallingGit } from '../support/fault-git.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { serveRepos } from '../support/served-repos.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

async function setup(t: Parameters<typeof makeTempDir>[0]) {
  const s = await serveRepos(t, { app: { 'v.txt': '1\n' } });
  return { root: s.root, repo: s.repos.app, first: s.heads.app, git: s.git, path: join(s.data, 'app') };
}

test('kill -9 of the supervisor, then a new daemon on the same volume adopts what is there without re-cloning', async (t) => {
  const s = await setup(t);
  const listing = join(s.root, 'listing.json');
  await writeFile(listing, JSON.stringify([{ path: s.path, repo: s.git.url('app'), branch: 'main' }]));
  const env = { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' };
  const first = startDaemon(t, env);
  await first.waitForLog((l) => l.message === 'published' && l.commit === s.first, 'published');
  const gitDir = join(stateDirOf(s.path), 'repo.git');
  await writeFile(join(gitDir, 'test-marker'), '');
  const fetchHead = statSync(join(gitDir, 'FETCH_HEAD')).mtimeMs;
  await first.stop('SIGKILL');

  const second = startDaemon(t, env);
  const ready = await second.waitForLog((l) => l.message === 'agent ready', 'agent ready');
  assert.equal(ready.publishedCommit, s.first, 'adopts the published tree');
  await second.waitForLog((l) => l.message === 'unchanged' || l.message === 'published', 'first poll');
  assert.ok(existsSync(join(gitDir, 'test-marker')), 'same git state, not a re-clone');
  assert.equal(statSync(join(gitDir, 'FETCH_HEAD')).mtimeMs, fetchHead, 'nothing fetched: the remote did not move');
  const next = await s.repo.commit({ 'v.txt': '2\n' });
  await second.waitForLog((l) => l.message === 'published' && l.commit === next, 'syncs on');
});

test('kill -9 of a git child mid-fetch fails that sync only; the agent retries and publishes', async (t) => {
  const s = await setup(t);
  const stall = join(s.root, 'stall');
  const stalled = join(s.root, 'stalled-pid');
  const bin = await stallingGit(s.root, stall, stalled);
  const agent = await startAgent(t, { path: s.path, repo: s.git.url('app'), branch: 'main' }, { env: { PATH: `${bin}:${process.env.PATH}` } });
  await agent.waitForMessage('synced', (m) => m.commit === s.first);
  await writeFile(stall, '');
  const next = await s.repo.commit({ 'v.txt': '2\n' });
  await waitFor(() => existsSync(stalled), { message: 'fetch stalled' });
  unlinkSync(stall);
  process.kill(Number(readFileSync(stalled, 'utf8').trim()), 'SIGKILL');
  const failed = await agent.waitForMessage('failed');
  assert.notEqual(failed.error.kind, 'timeout');
  assert.match(failed.error.message, /killed/);
  assert.equal(publishedCommit(s.path), s.first, 'the last good tree stays');
  await agent.waitForMessage('synced', (m) => m.commit === next);
  assert.equal(readPublishedFile(s.path, 'v.txt'), '2\n');
});

test('a host name that does not resolve is a network error naming the host, retried with backoff', async (t) => {
  const root = await makeTempDir(t);
  const path = join(root, 'data', 'app');
  const agent = await startAgent(t, { path, repo: 'git://no-such-host.invalid/app.git', branch: 'main' });
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'network');
  assert.match(failed.error.message, /no-such-host\.invalid/);
  const again = await agent.waitForMessage('failed', (m) => m.consecutiveFailures === 2, 15_000);
  assert.ok(again.retryInMs > failed.retryInMs);
  assert.equal(publishedCommit(path), null);
});
