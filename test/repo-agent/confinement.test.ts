// SYNC_ROOT is checked at every sync, not once: folders swapped for symlinks while the daemon
// runs are refused, naming the path, and nothing is ever written outside the root.
import assert from 'node:assert/strict';
import { mkdir, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { publishedCommit } from '../support/published.js';
import { makeTempDir, type Cleanup } from '../support/tmp.js';

async function published(t: Cleanup) {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'app');
  const first = await repo.commit({ 'v.txt': '1\n' });
  const git = await startGitDaemon(t, serveRoot);
  const data = join(root, 'data');
  const outside = join(root, 'outside');
  await mkdir(join(data, 'sub'), { recursive: true });
  await mkdir(outside);
  const path = join(data, 'sub', 'app');
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify([{ name: 'app', path, repo: git.url('app'), branch: 'main' }]));
  const d = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '300', SYNC_ROOT: data });
  await d.waitForLog((l) => l.message === 'published' && l.repo === 'app' && l.commit === first, 'first publish');
  return { d, repo, first, data, outside, path };
}

/** Every file and folder under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

const failedWith = (re: RegExp) => (l: LogLine) => l.message === 'sync failed' && l.repo === 'app' && re.test(String(l.error));

test('a parent folder swapped for a symlink out of SYNC_ROOT after the first publish is refused; nothing is written outside', async (t) => {
  const { d, repo, data, outside, path } = await published(t);
  const publishes = () => d.lines.filter((l) => l.message === 'published').length;
  const before = publishes();
  await rename(join(data, 'sub'), join(data, 'sub-old'));
  await symlink(outside, join(data, 'sub'));
  await repo.commit({ 'v.txt': '2\n' });
  const failed = await d.waitForLog(failedWith(/outside SYNC_ROOT/), 'the sync refused', 60_000);
  assert.equal(failed.kind, 'config');
  assert.match(String(failed.error), new RegExp(`"path" ${path} resolves to ${outside}`));
  // A few more polls (retries with backoff) write nothing either.
  await d.waitForLog((l) => failedWith(/outside SYNC_ROOT/)(l) && Number(l.consecutiveFailures) >= 3, 'more refusals', 60_000);
  assert.deepEqual(await readdir(outside), [], 'nothing was written outside SYNC_ROOT');
  assert.equal(publishes(), before, 'nothing was published');
});

test('a state folder swapped for a symlink out of SYNC_ROOT while the agent runs is refused; nothing is written through it', async (t) => {
  const { d, repo, first, data, outside, path } = await published(t);
  const state = join(data, 'sub', '.app.git-autosync');
  const moved = join(outside, 'state');
  await rename(state, moved);
  await symlink(moved, state);
  const before = await tree(moved);
  await repo.commit({ 'v.txt': '2\n' });
  const failed = await d.waitForLog(failedWith(/is not a folder/), 'the sync refused', 60_000);
  assert.equal(failed.kind, 'config');
  assert.match(String(failed.error), new RegExp(`^${state} is not a folder`));
  await d.waitForLog((l) => failedWith(/is not a folder/)(l) && Number(l.consecutiveFailures) >= 3, 'more refusals', 60_000);
  assert.deepEqual(await tree(moved), before, 'nothing was written through the symlink');
  assert.equal(publishedCommit(path), first, 'nothing was published through it');
});
