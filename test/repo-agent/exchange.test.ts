// publish: "exchange": `path` is a real directory with the commit's files and nothing of git's,
// swapped whole; readers holding the old tree keep it until retirement; a kill -9 at any moment
// leaves a whole tree that a restart adopts; a filesystem that cannot exchange is refused.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { SyncError } from '../../src/shared/errors.js';
import { layoutFor, worktreeDir } from '../../src/shared/layout.js';
import { resolveEntry } from '../../src/shared/listing-schema.js';
import type { Log } from '../../src/shared/log.js';
import { Checkouts } from '../../src/repo-agent/checkout.js';
import { EntryGit } from '../../src/repo-agent/entry-git.js';
import { ExchangePublisher } from '../../src/repo-agent/publishers/exchange.js';
import { ExchangeError } from '../../src/repo-agent/rename-exchange.js';
import { OwnRepository } from '../../src/repo-agent/repositories/own.js';
import { Retirement } from '../../src/repo-agent/retire.js';
import { oneRemote } from '../support/agent-fixture.js';
import { startAgent, TEST_DEFAULTS, type RunningAgent } from '../support/agent.js';
import { git } from '../support/git-repo.js';
import { isSymlink, stateDirOf, worktreesOnDisk } from '../support/published.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

const isDirectory = (p: string) => lstatSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
const read = (p: string) => readFileSync(p, 'utf8');
const noFailure = (agent: RunningAgent) => assert.deepEqual(agent.messages.filter((m) => m.type === 'failed'), []);

test('path is a real directory holding the commit\'s files and no .git; pushes, deletions and a force push are followed', async (t) => {
  const { remote, first, url, path } = await oneRemote(t, { 'version.txt': '1\n', 'old.txt': 'old\n' });
  const agent = await startAgent(t, { path, repo: url, branch: 'main', publish: 'exchange' });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  assert.ok(isDirectory(path) && !isSymlink(path));
  assert.equal(read(join(path, 'version.txt')), '1\n');
  assert.ok(!existsSync(join(path, '.git')), 'no .git in the published tree');

  const second = await remote.commit({ 'version.txt': '2\n', 'old.txt': null });
  await agent.waitForMessage('synced', (m) => m.commit === second);
  assert.equal(read(join(path, 'version.txt')), '2\n');
  assert.ok(!existsSync(join(path, 'old.txt')), 'a deleted file is gone');
  const rewritten = await remote.rewriteHistory({ 'version.txt': 'rewritten\n' });
  await agent.waitForMessage('synced', (m) => m.commit === rewritten);
  assert.equal(read(join(path, 'version.txt')), 'rewritten\n');
  // The rewrite replaces the second commit on top of the first, whose old.txt is back; nothing else is there.
  assert.deepEqual(readdirSync(path).sort(), ['old.txt', 'version.txt']);
  // A consumer running git in the tree finds no repository there (git would name the bare one otherwise).
  await assert.rejects(git(path, ['-c', `safe.directory=*`, 'rev-parse', '--git-dir'], { GIT_CEILING_DIRECTORIES: join(path, '..') }));
  noFailure(agent);

  // A restart adopts what is there, from the record in the state folder.
  await agent.stop();
  const restarted = await startAgent(t, { path, repo: url, branch: 'main', publish: 'exchange' });
  assert.equal((await restarted.waitForMessage('ready')).publishedCommit, rewritten);
  await restarted.waitForMessage('unchanged');
});

test('a reader whose cwd is in the old tree keeps reading it until staleAfter retires it', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main', publish: 'exchange', staleAfter: 5000 });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  // Reads version.txt relative to its cwd each time it is sent a line.
  const reader = spawn(process.execPath, ['-e', `process.stdin.on('data', () => { let r; try { r = require('fs').readFileSync('version.txt', 'utf8') } catch (e) { r = 'ERR ' + e.code } process.stdout.write(JSON.stringify(r) + '\\n') })`], {
    cwd: path,
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  t.after(() => reader.kill('SIGKILL'));
  const lines: string[] = [];
  reader.stdout.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n').map((l) => JSON.parse(l) as string)));
  const ask = async () => {
    const n = lines.length;
    reader.stdin.write('\n');
    return waitFor(() => lines[n], { message: 'the reader to answer' });
  };
  assert.equal(await ask(), '1\n');

  const second = await remote.commit({ 'version.txt': '2\n' });
  await agent.waitForMessage('synced', (m) => m.commit === second);
  assert.equal(read(join(path, 'version.txt')), '2\n', 'path shows the new tree');
  assert.equal(await ask(), '1\n', 'the reader inside the old tree still reads it');
  assert.deepEqual(worktreesOnDisk(path), [first], 'the old tree waits under its commit in the state folder');
  await waitFor(async () => (await ask()).startsWith('ERR'), { message: 'the old tree retired after staleAfter', timeoutMs: 60_000 });
  assert.deepEqual(worktreesOnDisk(path), []);
  noFailure(agent);
});

test('kill -9 at random moments never leaves path missing or mixed, and each restart adopts what is there', async (t) => {
  const { remote, first, url, path } = await oneRemote(t, { 'a.txt': '0', 'sub/b.txt': '0' });
  const byContent = new Map([['0', first]]);
  const entry = { path, repo: url, branch: 'main', publish: 'exchange', interval: 100, staleAfter: 200 };
  let agent = await startAgent(t, entry);
  let adopted: string | null = null;
  // Once path has been published it must never go missing. Before that it may not exist yet: on a
  // loaded machine the first kills can all come before the first publish (seen under two busy loops).
  let everPublished = false;
  for (let round = 1; round <= 8; round++) {
    const sha = await remote.commit({ 'a.txt': String(round), 'sub/b.txt': String(round) });
    byContent.set(String(round), sha);
    // Anywhere from before the fetch to after the publish and the retirement.
    await new Promise((r) => setTimeout(r, Math.random() * 1500));
    agent.child.kill('SIGKILL');
    await agent.exited;
    if (everPublished || existsSync(path)) {
      assert.ok(existsSync(path), `round ${round}: path, published before, is not missing`);
      assert.ok(isDirectory(path), `round ${round}: path is a directory`);
      everPublished = true;
      const a = read(join(path, 'a.txt'));
      assert.equal(read(join(path, 'sub', 'b.txt')), a, `round ${round}: one commit's files, not a mix`);
      assert.ok(!existsSync(join(path, '.git')), `round ${round}: no .git`);
    }
    agent = await startAgent(t, entry);
    const ready = await agent.waitForMessage('ready');
    const shown = existsSync(path) ? byContent.get(read(join(path, 'a.txt'))) : null;
    assert.equal(ready.publishedCommit, shown ?? null, `round ${round}: the restart adopts the tree at path`);
    adopted = ready.publishedCommit;
  }
  const last = byContent.get('8')!;
  // The last kill may come after the last commit was published: the restart then adopts it and
  // reports it unchanged, never synced (a quiet machine did so every run; CI's loaded one rarely).
  if (adopted !== last) await agent.waitForMessage('synced', (m) => m.commit === last, 60_000);
  assert.equal(read(join(path, 'a.txt')), '8');
});

test('killed between the swap and the rename after it: the restart adopts path and files the old tree back under its commit', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const entry = { path, repo: url, branch: 'main', publish: 'exchange', keep: 1 };
  const agent = await startAgent(t, entry);
  await agent.waitForMessage('synced', (m) => m.commit === first);
  const second = await remote.commit({ 'version.txt': '2\n' });
  await agent.waitForMessage('synced', (m) => m.commit === second);
  agent.child.kill('SIGKILL');
  await agent.exited;
  // What the swap leaves before the rename: the replaced tree under the new commit's name.
  const worktrees = join(stateDirOf(path), 'worktrees');
  await rename(join(worktrees, first), join(worktrees, second));

  const restarted = await startAgent(t, entry);
  assert.equal((await restarted.waitForMessage('ready')).publishedCommit, second);
  assert.deepEqual(worktreesOnDisk(path), [first]);
  assert.equal(read(join(worktrees, first, 'version.txt')), '1\n');
  const third = await remote.commit({ 'version.txt': '3\n' });
  const synced = await restarted.waitForMessage('synced', (m) => m.commit === third);
  assert.deepEqual(synced.kept, [second]);
  assert.equal(read(join(path, 'version.txt')), '3\n');
});

test('the original tool\'s clone at path is taken over: path stays a directory, the clone is moved aside and removed', async (t) => {
  const { root, remote, url, path } = await oneRemote(t);
  await mkdir(join(root, 'data'), { recursive: true });
  await git(join(root, 'data'), ['clone', '--quiet', '--branch', 'main', url, path]);
  const second = await remote.commit({ 'version.txt': '2\n' });
  const agent = await startAgent(t, { path, repo: url, branch: 'main', publish: 'exchange' });
  await agent.waitForMessage('synced', (m) => m.commit === second);
  assert.ok(isDirectory(path) && !existsSync(join(path, '.git')));
  assert.equal(read(join(path, 'version.txt')), '2\n');
  await waitFor(() => readdirSync(join(stateDirOf(path), 'aside')).length === 0, { message: 'the old clone removed after staleAfter' });
  noFailure(agent);
});

test('a directory that is not a clone of the repo, a file and a foreign symlink at path are never touched', async (t) => {
  const { root, url } = await oneRemote(t);
  const data = join(root, 'data');
  await mkdir(join(data, 'dir'), { recursive: true });
  await writeFile(join(data, 'dir', 'precious.db'), 'do not delete');
  await writeFile(join(data, 'file'), 'x');
  await symlink('/etc', join(data, 'link'));
  for (const [name, pattern] of [['dir', /will not delete or overwrite it/], ['file', /is a file that git-autosync did not make/], ['link', /a symlink to \/etc/]] as const) {
    const agent = await startAgent(t, { path: join(data, name), repo: url, branch: 'main', publish: 'exchange' });
    const failed = await agent.waitForMessage('failed');
    assert.equal(failed.error.kind, 'local-state', name);
    assert.match(failed.error.message, pattern);
    await agent.stop();
  }
  assert.equal(read(join(data, 'dir', 'precious.db')), 'do not delete');
  assert.deepEqual(readdirSync(join(data, 'dir')), ['precious.db']);
  assert.equal(read(join(data, 'file')), 'x');
  assert.ok(isSymlink(join(data, 'link')));
});

test('switching an entry from symlink to exchange: the link is replaced by a real directory, and back again', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const linked = await startAgent(t, { path, repo: url, branch: 'main' });
  await linked.waitForMessage('synced', (m) => m.commit === first);
  await linked.stop();
  assert.ok(isSymlink(path));
  const exchanged = await startAgent(t, { path, repo: url, branch: 'main', publish: 'exchange' });
  await exchanged.waitForMessage('synced', (m) => m.commit === first);
  assert.ok(isDirectory(path) && !existsSync(join(path, '.git')));
  noFailure(exchanged);
  await exchanged.stop();
  const second = await remote.commit({ 'version.txt': '2\n' });
  const back = await startAgent(t, { path, repo: url, branch: 'main' });
  await back.waitForMessage('synced', (m) => m.commit === second);
  assert.ok(isSymlink(path));
  assert.equal(read(join(path, 'version.txt')), '2\n');
  noFailure(back);
});

// No filesystem here refuses RENAME_EXCHANGE without root tricks (ext2, tmpfs and ext4 all
// exchange): the refusal is injected at the lowest level, the one call that would make it.
test('a filesystem that refuses RENAME_EXCHANGE fails the entry at start with a config error naming path and the other modes; nothing is changed', async (t) => {
  const root = await makeTempDir(t);
  const path = join(root, 'data', 'app');
  await mkdir(path, { recursive: true });
  await writeFile(join(path, 'user.txt'), 'mine');
  const resolved = resolveEntry({ path, repo: join(root, 'remote.git'), branch: 'main', publish: 'exchange' }, 0, TEST_DEFAULTS);
  assert.ok('entry' in resolved);
  const entry = resolved.entry;
  const layout = layoutFor(path, 'exchange');
  const quiet: Log = { error() {}, warn() {}, info() {}, debug() {} };
  const entryGit = new EntryGit(entry, layout);
  const repository = new OwnRepository(entry, layout, quiet, entryGit);
  const retirement = new Retirement(entry, layout, quiet, entryGit, repository, (fn) => fn());
  const refuse = (a: string, b: string) => {
    throw new ExchangeError('EINVAL', a, b);
  };
  const publisher = new ExchangePublisher(entry, layout, quiet, entryGit, repository, new Checkouts(entry, entryGit, repository), retirement, refuse);
  t.after(() => publisher.close());
  await assert.rejects(publisher.adopt(), (err: unknown) => {
    assert.ok(err instanceof SyncError && err.kind === 'config', String(err));
    assert.ok(err.message.includes(path) && /"symlink"/.test(err.message) && /"in-place"/.test(err.message), err.message);
    assert.match(err.message, /EINVAL/);
    return true;
  });
  assert.deepEqual(readdirSync(path), ['user.txt']);
  assert.deepEqual(readdirSync(layout.stateDir), [], 'no scratch folder left behind');
  assert.ok(!existsSync(worktreeDir(layout, 'x'.repeat(40))));
});
