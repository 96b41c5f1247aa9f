import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { isAlive, stallingGit } from '../support/fault-git.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { git, RemoteRepo } from '../support/git-repo.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

const STORES = '.git-autosync-stores';

/** One remote with three branches that share most of their content. */
async function threeBranches(serveRoot: string) {
  const remote = await RemoteRepo.create(serveRoot, 'site');
  const common = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`common/${i}.txt`, `shared content ${i}\n`.repeat(50)]));
  await remote.commit({ ...common, 'branch.txt': 'main\n' });
  const heads: Record<string, string> = { main: await remote.remoteHead() };
  for (const branch of ['dev', 'feature']) {
    await remote.switchBranch(branch, { create: true, from: 'main' });
    heads[branch] = await remote.commit({ 'branch.txt': `${branch}\n` });
  }
  await remote.switchBranch('main');
  return { remote, heads };
}

/** threeBranches() served by a git daemon, in a temp folder of the test's. */
async function storeFixture(t: { after(fn: () => unknown): void }) {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const { remote, heads } = await threeBranches(serveRoot);
  const server = await startGitDaemon(t, serveRoot);
  return { root, remote, heads, server };
}

function storesIn(data: string): string[] {
  return existsSync(join(data, STORES)) ? readdirSync(join(data, STORES)).filter((f) => f.endsWith('.git')) : [];
}

async function storeRefs(store: string): Promise<string[]> {
  return (await git(store, ['for-each-ref', '--format=%(refname)', 'refs/autosync/'])).split('\n').filter((l) => l !== '');
}

async function statusOf(daemon: RunningDaemon, name: string): Promise<{ state: string; pid: number | null; commit: string | null }> {
  const res = await fetch(`${await daemon.httpUrl()}/status/${name}`);
  const body = (await res.json()) as { state: string; pid: number | null; publishedCommit: string | null };
  return { state: body.state, pid: body.pid, commit: body.publishedCommit };
}

test('branches of one remote share one object store: each publishes its own branch, no entry keeps a repository of its own', async (t) => {
  const { root, remote, heads, server } = await storeFixture(t);
  const data = join(root, 'data');
  const listing = join(root, 'listing.json');
  const entries = ['main', 'dev', 'feature'].map((b) => ({ path: join(data, b), repo: server.url('site'), branch: b, gc: 'always', prune: true }));
  await writeFile(listing, JSON.stringify(entries));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '100' });

  for (const b of ['main', 'dev', 'feature']) {
    await waitFor(() => publishedCommit(join(data, b)) === heads[b], { timeoutMs: 30_000, message: `${b} published; output:\n${daemon.output().slice(-3000)}` });
    assert.equal(readPublishedFile(join(data, b), 'branch.txt'), `${b}\n`);
    assert.equal(readPublishedFile(join(data, b), 'common/7.txt'), 'shared content 7\n'.repeat(50));
    assert.equal(existsSync(join(stateDirOf(join(data, b)), 'repo.git')), false, `${b} has no repository of its own`);
  }
  const stores = storesIn(data);
  assert.equal(stores.length, 1, `one store: ${stores.join(', ')}`);
  const store = join(data, STORES, stores[0]!);
  assert.equal((await storeRefs(store)).length, 3, 'one ref per entry');

  // A push to one branch moves only that entry.
  await remote.switchBranch('dev');
  const dev2 = await remote.commit({ 'branch.txt': 'dev 2\n' });
  await waitFor(() => publishedCommit(join(data, 'dev')) === dev2, { timeoutMs: 30_000, message: 'dev follows its push' });
  assert.equal(publishedCommit(join(data, 'main')), heads.main);
  assert.equal(publishedCommit(join(data, 'feature')), heads.feature);

  // Both branches move in one push: the first entry to fetch brings the other's commit along.
  const work = remote.workDir;
  const moved: Record<string, string> = {};
  for (const b of ['dev', 'feature']) {
    await git(work, ['checkout', '--quiet', b]);
    await writeFile(join(work, 'branch.txt'), `${b} 3\n`);
    await git(work, ['commit', '--quiet', '-am', `${b} 3`]);
    moved[b] = (await git(work, ['rev-parse', 'HEAD'])).trim();
  }
  await git(work, ['push', '--quiet', '--atomic', 'origin', 'dev', 'feature']);
  await git(work, ['checkout', '--quiet', 'main']);
  for (const b of ['dev', 'feature']) {
    await waitFor(() => publishedCommit(join(data, b)) === moved[b], { timeoutMs: 30_000, message: `${b} follows the joint push` });
  }
  const reused = daemon.lines.filter((l) => l.message === 'commit already fetched into the shared store by another entry');
  assert.ok(reused.some((l) => l.commit === moved.dev || l.commit === moved.feature), 'one fetch served both entries');

  // A pruned entry's ref leaves the store (at the next gc of another entry), so its objects can go.
  await writeFile(listing, JSON.stringify(entries.slice(0, 2)));
  await waitFor(() => !existsSync(stateDirOf(join(data, 'feature'))), { timeoutMs: 30_000, message: 'feature pruned' });
  const main2 = await (async () => {
    await remote.switchBranch('main');
    return remote.commit({ 'branch.txt': 'main 2\n' });
  })();
  await waitFor(() => publishedCommit(join(data, 'main')) === main2, { timeoutMs: 30_000, message: 'main follows its push' });
  await waitFor(async () => (await storeRefs(store)).length === 2, { timeoutMs: 30_000, message: 'the pruned entry\'s ref is dropped' });
  assert.equal(existsSync(store), true, 'the store stays while entries use it');

  // Pruning the last entries takes the store with them.
  await writeFile(listing, '[]');
  await waitFor(() => !existsSync(store), { timeoutMs: 30_000, message: 'store removed with its last entry' });
  assert.equal(existsSync(join(data, 'main')), false);
  await daemon.stop();
});

test('an agent killed while it holds the store lock cannot keep the others from syncing', async (t) => {
  const { root, remote, heads, server } = await storeFixture(t);
  const stall = join(root, 'stall');
  const stalled = join(root, 'stalled');
  const bin = await stallingGit(root, stall, stalled);
  const data = join(root, 'data');
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify(['main', 'dev'].map((b) => ({ path: join(data, b), repo: server.url('site'), branch: b }))));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200', PATH: `${bin}:${process.env.PATH ?? ''}` });
  for (const b of ['main', 'dev']) {
    await waitFor(() => publishedCommit(join(data, b)) === heads[b], { timeoutMs: 30_000, message: `${b} published` });
  }

  // main's fetch hangs, holding the store's lock; then dev's remote moves.
  await writeFile(stall, '');
  await remote.switchBranch('main');
  const main2 = await remote.commit({ 'branch.txt': 'main 2\n' });
  await waitFor(() => existsSync(stalled), { timeoutMs: 30_000, message: 'main stalled in fetch' });
  await rm(stall);
  await remote.switchBranch('dev');
  const dev2 = await remote.commit({ 'branch.txt': 'dev 2\n' });
  await waitFor(async () => (await statusOf(daemon, 'dev')).state === 'syncing', { timeoutMs: 30_000, message: 'dev waits for the lock' });
  assert.notEqual(publishedCommit(join(data, 'dev')), dev2);

  // kill -9 the lock holder: the kernel drops its lock, dev goes on, main is restarted and catches up.
  const { pid } = await statusOf(daemon, 'main');
  assert.ok(pid !== null && isAlive(pid));
  process.kill(pid, 'SIGKILL');
  await waitFor(() => publishedCommit(join(data, 'dev')) === dev2, { timeoutMs: 30_000, message: `dev published after the holder died; output:\n${daemon.output().slice(-3000)}` });
  await waitFor(() => publishedCommit(join(data, 'main')) === main2, { timeoutMs: 30_000, message: 'main restarted and caught up' });
  await daemon.stop();
});

test('a branch deleted on the remote fails only its own entry; the others of the store keep syncing', async (t) => {
  const { root, remote, heads, server } = await storeFixture(t);
  const data = join(root, 'data');
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify(['main', 'feature'].map((b) => ({ path: join(data, b), repo: server.url('site'), branch: b }))));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' });
  for (const b of ['main', 'feature']) {
    await waitFor(() => publishedCommit(join(data, b)) === heads[b], { timeoutMs: 30_000, message: `${b} published` });
  }

  await remote.deleteRemoteBranch('feature');
  await waitFor(async () => (await statusOf(daemon, 'feature')).state === 'failing', {
    timeoutMs: 30_000,
    message: 'feature fails once its branch is gone',
  });
  // main's fetch would bring feature's ref along: it must not fail on it.
  await remote.switchBranch('main');
  const main2 = await remote.commit({ 'branch.txt': 'main 2\n' });
  await waitFor(() => publishedCommit(join(data, 'main')) === main2, { timeoutMs: 30_000, message: `main follows its push; output:\n${daemon.output().slice(-3000)}` });
  assert.equal(publishedCommit(join(data, 'feature')), heads.feature, 'feature keeps serving its last good tree');
  assert.equal(readPublishedFile(join(data, 'feature'), 'branch.txt'), 'feature\n');
  assert.ok(daemon.lines.some((l) => l.repo === 'main' && /^fetching only this entry's ref/.test(l.message)), 'main fell back to its own ref');
  const failures = daemon.lines.filter((l) => l.message === 'sync failed');
  assert.ok(failures.length > 0 && failures.every((l) => l.repo === 'feature'), `only feature failed: ${JSON.stringify(failures.map((l) => l.repo))}`);
  await daemon.stop();
});

test('a shared partial clone checks out each entry\'s sparse folders, fetching only the blobs they need', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const remote = await RemoteRepo.create(serveRoot, 'site');
  await remote.commit({ 'app/main.txt': 'app\n', 'docs/big.txt': 'documentation\n'.repeat(2000) });
  const heads: Record<string, string> = { main: await remote.remoteHead() };
  await remote.switchBranch('dev', { create: true });
  heads.dev = await remote.commit({ 'app/main.txt': 'app on dev\n', 'docs/big.txt': 'dev documentation\n'.repeat(2000) });
  const server = await startGitDaemon(t, serveRoot);
  const data = join(root, 'data');
  const listing = join(root, 'listing.json');
  const entry = (b: string) => ({ path: join(data, b), repo: server.url('site'), branch: b, filter: 'blob:none', sparse: ['app'] });
  await writeFile(listing, JSON.stringify([entry('main'), entry('dev')]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' });
  for (const b of ['main', 'dev']) {
    await waitFor(() => publishedCommit(join(data, b)) === heads[b], { timeoutMs: 30_000, message: `${b} published; output:\n${daemon.output().slice(-3000)}` });
    assert.equal(readPublishedFile(join(data, b), 'app/main.txt'), b === 'main' ? 'app\n' : 'app on dev\n');
    assert.equal(existsSync(join(data, b, 'docs')), false, 'outside the sparse folders nothing is checked out');
  }
  const stores = storesIn(data);
  assert.equal(stores.length, 1);
  const store = join(data, STORES, stores[0]!);
  // Neither branch's docs/big.txt was needed, so neither was fetched.
  const missing = (await git(store, ['rev-list', '--objects', '--missing=print', '--all'])).split('\n').filter((l) => l.startsWith('?'));
  assert.equal(missing.length, 2, `the two docs blobs stay on the remote: ${missing.join(', ')}`);
  await daemon.stop();
});
