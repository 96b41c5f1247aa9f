import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { serveTwoRepos } from '../support/served-repos.js';
import { isAlive } from '../support/fault-git.js';
import { waitFor } from '../support/tmp.js';

const setup = serveTwoRepos;

const env = (listing: string) => ({ LISTING_PATH: listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200' });
const published = (name: string, commit?: string) => (l: LogLine) => l.message === 'published' && l.repo === name && (commit === undefined || l.commit === commit);


test('valid entries sync while a bad one is refused with a line naming it, in the original listing format', async (t) => {
  const s = await setup(t);
  await writeFile(
    s.listing,
    JSON.stringify([
      { path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' },
      { path: join(s.data, 'evil'), repo: s.git.url('two'), branch: '--upload-pack=touch /tmp/x' },
      { path: join(s.data, 'two'), repo: s.git.url('two'), branch: 'main' },
    ]),
  );
  const daemon = startDaemon(t, env(s.listing));
  await daemon.waitForLog(published('one', s.oneHead), 'one published');
  await daemon.waitForLog(published('two', s.twoHead), 'two published');
  const refusal = await daemon.waitForLog((l) => l.message.startsWith('invalid listing entry'), 'refusal logged');
  assert.equal(refusal.error, 'listing entry #2 ("evil"): "branch" must not start with "-" (it would be read as a git option)');
  assert.ok(!existsSync(join(s.data, 'evil')));
});

test('listing changes apply live: add, change branch, remove with prune', async (t) => {
  const s = await setup(t);
  const onePath = join(s.data, 'one');
  const twoPath = join(s.data, 'two');
  await writeFile(s.listing, JSON.stringify([{ path: onePath, repo: s.git.url('one'), branch: 'main' }]));
  const daemon = startDaemon(t, env(s.listing));
  await daemon.waitForLog(published('one', s.oneHead), 'one published');

  await writeFile(s.listing, JSON.stringify([
    { path: onePath, repo: s.git.url('one'), branch: 'main', prune: true },
    { path: twoPath, repo: s.git.url('two'), branch: 'main' },
  ]));
  await daemon.waitForLog(published('two', s.twoHead), 'two published after being added');

  await s.two.switchBranch('next', { create: true });
  const next = await s.two.commit({ 'name.txt': 'two next\n' });
  await writeFile(s.listing, JSON.stringify([
    { path: onePath, repo: s.git.url('one'), branch: 'main', prune: true },
    { path: twoPath, repo: s.git.url('two'), branch: 'next' },
  ]));
  await daemon.waitForLog(published('two', next), 'two follows its new branch');
  assert.equal(readPublishedFile(twoPath, 'name.txt'), 'two next\n');

  await writeFile(s.listing, JSON.stringify([{ path: twoPath, repo: s.git.url('two'), branch: 'next' }]));
  await daemon.waitForLog((l) => l.message === 'pruned removed entry' && l.repo === 'one', 'one pruned');
  assert.ok(!existsSync(onePath) && !existsSync(stateDirOf(onePath)), 'pruned tree and state are gone');
  assert.equal(publishedCommit(twoPath), next, 'the other entry is untouched');
});

test('a ConfigMap-style ..data symlink swap is seen, and a broken listing keeps the last good one', async (t) => {
  const s = await setup(t);
  // The layout kubelet makes: listing.json -> ..data/listing.json, ..data -> ..<timestamp>/
  const cm = join(s.root, 'configmap');
  await mkdir(join(cm, '..v1'), { recursive: true });
  await writeFile(join(cm, '..v1', 'listing.json'), JSON.stringify([{ path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' }]));
  await symlink('..v1', join(cm, '..data'));
  await symlink('..data/listing.json', join(cm, 'listing.json'));
  const daemon = startDaemon(t, env(join(cm, 'listing.json')));
  await daemon.waitForLog(published('one', s.oneHead), 'one published');

  const swap = async (version: string, content: string) => {
    await mkdir(join(cm, version));
    await writeFile(join(cm, version, 'listing.json'), content);
    await symlink(version, join(cm, '..data_tmp'));
    await rename(join(cm, '..data_tmp'), join(cm, '..data'));
  };
  await swap('..v2', JSON.stringify([
    { path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' },
    { path: join(s.data, 'two'), repo: s.git.url('two'), branch: 'main' },
  ]));
  await daemon.waitForLog(published('two', s.twoHead), 'two published after the ..data swap');

  await swap('..v3', '[{"path": "/data/x", "repo": ');
  await daemon.waitForLog((l) => l.message === 'listing rejected; keeping the last good one running', 'broken listing rejected');
  const pushed = await s.one.commit({ 'name.txt': 'one again\n' });
  await daemon.waitForLog(published('one', pushed), 'one still syncing after the broken listing');
  assert.equal(readPublishedFile(join(s.data, 'two'), 'name.txt'), 'two\n');
});

test('a killed agent is restarted with backoff and keeps publishing; the others are unaffected', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([
    { path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' },
    { path: join(s.data, 'two'), repo: s.git.url('two'), branch: 'main' },
  ]));
  const daemon = startDaemon(t, env(s.listing));
  const started = await daemon.waitForLog((l) => l.message === 'agent process started' && l.repo === 'one', 'agent one started');
  await daemon.waitForLog(published('one', s.oneHead), 'one published');
  await daemon.waitForLog(published('two', s.twoHead), 'two published');
  process.kill(started.pid as number, 'SIGKILL');
  const exit = await daemon.waitForLog((l) => l.message === 'agent exited; restarting it' && l.repo === 'one', 'restart scheduled');
  assert.equal(exit.signal, 'SIGKILL');
  assert.ok((exit.restartInMs as number) >= 800, 'restart waits a backoff');
  const pushed = await s.one.commit({ 'name.txt': 'after crash\n' });
  await daemon.waitForLog(published('one', pushed), 'one publishes again after restart');
  const twoPushed = await s.two.commit({ 'name.txt': 'two after\n' });
  await daemon.waitForLog(published('two', twoPushed), 'two unaffected');
});

test('SIGTERM stops every agent and the daemon exits 0 with no agent left running', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([
    { path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' },
    { path: join(s.data, 'two'), repo: s.git.url('two'), branch: 'main' },
  ]));
  const daemon = startDaemon(t, env(s.listing));
  await daemon.waitForLog(published('one'), 'one published');
  await daemon.waitForLog(published('two'), 'two published');
  const pids = daemon.lines.filter((l) => l.message === 'agent process started').map((l) => l.pid as number);
  assert.equal(pids.length, 2);
  assert.equal(await daemon.stop('SIGTERM'), 0);
  await waitFor(() => pids.every((p) => !isAlive(p)), { message: 'agents gone', timeoutMs: 5000 });
  assert.equal(publishedCommit(join(s.data, 'one')), s.oneHead, 'published trees stay after shutdown');
});
