import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { git, RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { publishedCommit, readPublishedFile, stateDirOf, worktreesOnDisk } from '../support/published.js';
import { makeTempDir, waitFor } from '../support/tmp.js';
import { assertDiskFlatOver200Syncs } from '../support/disk-flat.js';

async function superWithSubmodule(serveRoot: string) {
  const lib = await RemoteRepo.create(serveRoot, 'lib');
  await lib.commit({ 'lib.txt': 'lib v1\n' });
  await lib.commit({ 'lib.txt': 'lib v2\n' });
  const app = await RemoteRepo.create(serveRoot, 'app');
  await app.commit({ 'app.txt': 'app\n' });
  // A relative URL, resolved against the superproject's own remote.
  await git(app.workDir, ['-c', 'protocol.file.allow=always', 'submodule', 'add', '--quiet', '../lib.git', 'lib']);
  const head = await app.commit({}, 'add submodule');
  return { app, lib, head };
}

test('submodules with a relative URL are checked out recursively over http with the entry\'s credentials', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const { head } = await superWithSubmodule(serveRoot);
  const http = await startHttpGitServer(t, serveRoot);
  await writeFile(join(root, 'user'), http.username);
  await writeFile(join(root, 'pass'), http.password);
  const creds = { usernameFile: join(root, 'user'), passwordFile: join(root, 'pass') };
  const path = join(root, 'data', 'app');
  const agent = await startAgent(t, { path, repo: http.url('app'), branch: 'main', ...creds });
  await agent.waitForMessage('synced', (m) => m.commit === head);
  assert.equal(readPublishedFile(path, 'lib/lib.txt'), 'lib v2\n');

  const shallowPath = join(root, 'data', 'shallow');
  const shallow = await startAgent(t, { path: shallowPath, repo: http.url('app'), branch: 'main', submodules: 'shallow', ...creds });
  await shallow.waitForMessage('synced', (m) => m.commit === head);
  assert.equal(readPublishedFile(shallowPath, 'lib/lib.txt'), 'lib v2\n');
  assert.equal(await git(join(shallowPath, 'lib'), ['rev-parse', '--is-shallow-repository']), 'true');

  const offPath = join(root, 'data', 'off');
  const off = await startAgent(t, { path: offPath, repo: http.url('app'), branch: 'main', submodules: 'off', ...creds });
  await off.waitForMessage('synced', (m) => m.commit === head);
  assert.equal(readPublishedFile(offPath, 'app.txt'), 'app\n');
  assert.equal(readPublishedFile(offPath, 'lib/lib.txt'), null);
  await agent.stop();
  assert.ok(!agent.output().includes(http.password));
});

test('sparse checks out only the listed directories, and a blob:none filter fetches only the blobs needed', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'mono');
  const head = await repo.commit({ 'README.md': 'top\n', 'a/one.txt': 'a\n', 'b/big.bin': 'b'.repeat(100_000), 'c/three.txt': 'c\n' });
  const daemon = await startGitDaemon(t, serveRoot);
  const path = join(root, 'data', 'mono');
  const agent = await startAgent(t, { path, repo: daemon.url('mono'), branch: 'main', sparse: ['a', 'c'], filter: 'blob:none' });
  await agent.waitForMessage('synced', (m) => m.commit === head);
  assert.deepEqual(readdirSync(path).filter((f) => f !== '.git').sort(), ['README.md', 'a', 'c']);
  const gitDir = join(stateDirOf(path), 'repo.git');
  const bigBlob = await git(repo.bareDir, ['rev-parse', `${head}:b/big.bin`]);
  // --missing=print lists objects the partial clone does not have, without fetching them.
  const missing = await git(gitDir, ['rev-list', '--objects', '--missing=print', head]);
  assert.ok(missing.split('\n').includes(`?${bigBlob}`), 'the excluded blob was never fetched');
  assert.equal(await git(gitDir, ['config', 'remote.origin.partialclonefilter']), 'blob:none');
  const next = await repo.commit({ 'a/one.txt': 'a2\n' });
  await agent.waitForMessage('synced', (m) => m.commit === next);
  assert.equal(readPublishedFile(path, 'a/one.txt'), 'a2\n');
  assert.equal(readPublishedFile(path, 'b/big.bin'), null);
});

test('a depth change on restart deepens without a re-clone', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'hist');
  const shas = await repo.commitMany(5, (i) => ({ 'n.txt': `${i}\n` }));
  const daemon = await startGitDaemon(t, serveRoot);
  const path = join(root, 'data', 'hist');
  const gitDir = join(stateDirOf(path), 'repo.git');
  const first = await startAgent(t, { path, repo: daemon.url('hist'), branch: 'main' });
  await first.waitForMessage('synced', (m) => m.commit === shas[4]);
  assert.equal(await git(gitDir, ['rev-list', '--count', 'refs/autosync/target']), '1');
  await first.stop();
  // A file of ours inside the git folder survives only if the folder is not re-created.
  await writeFile(join(gitDir, 'test-marker'), '');
  const head = await repo.commit({ 'n.txt': 'six\n' });
  const deeper = await startAgent(t, { path, repo: daemon.url('hist'), branch: 'main', depth: 0 });
  await deeper.waitForMessage('synced', (m) => m.commit === head);
  assert.equal(await git(gitDir, ['rev-list', '--count', 'refs/autosync/target']), '6');
  assert.equal(await git(gitDir, ['rev-parse', '--is-shallow-repository']), 'false');
  assert.ok(statSync(join(gitDir, 'test-marker')).isFile(), 'same git state, not a re-clone');
});

test('keep retains exactly N previous trees, reported to the supervisor', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'k');
  const daemon = await startGitDaemon(t, serveRoot);
  const shas = [await repo.commit({ 'v.txt': '0' })];
  const path = join(root, 'data', 'k');
  const agent = await startAgent(t, { path, repo: daemon.url('k'), branch: 'main', keep: 2, staleAfter: 100 });
  await agent.waitForMessage('synced', (m) => m.commit === shas[0]);
  for (let i = 1; i <= 4; i++) {
    shas.push(await repo.commit({ 'v.txt': String(i) }));
    await agent.waitForMessage('synced', (m) => m.commit === shas[i]);
  }
  const last = agent.messages.filter((m) => m.type === 'synced').pop();
  assert.deepEqual(last?.type === 'synced' && last.kept, [shas[3], shas[2]]);
  await waitFor(() => worktreesOnDisk(path).length === 3, { message: `3 trees on disk; have ${worktreesOnDisk(path).join()}` });
  assert.deepEqual(worktreesOnDisk(path), [shas[2], shas[3], shas[4]].sort());
  assert.equal(readFileSync(join(stateDirOf(path), 'worktrees', shas[2]!, 'v.txt'), 'utf8'), '2', 'kept trees stay whole');
});

test('group-write output and allowlisted gitConfig apply to the published tree', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'g');
  const head = await repo.commit({ 'dir/file.txt': 'line one\nline two\n' });
  const daemon = await startGitDaemon(t, serveRoot);
  const path = join(root, 'data', 'g');
  const agent = await startAgent(t, { path, repo: daemon.url('g'), branch: 'main', fileMode: 'group-write', gitConfig: ['core.autocrlf=true'] });
  await agent.waitForMessage('synced', (m) => m.commit === head);
  assert.ok(statSync(join(path, 'dir', 'file.txt')).mode & 0o020, 'file group-writable');
  assert.ok(statSync(join(path, 'dir')).mode & 0o020, 'folder group-writable');
  assert.equal(readPublishedFile(path, 'dir/file.txt'), 'line one\r\nline two\r\n', 'core.autocrlf applied at checkout');
  assert.equal(publishedCommit(path), head);
});

test('symlink: with the default gc, disk use stays flat over 200 syncs', (t) => assertDiskFlatOver200Syncs(t, 'symlink'));

test('gc "always" leaves no loose objects after a publish; "off" never collects', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'gc');
  await repo.commit({ 'a.txt': 'a' });
  const daemon = await startGitDaemon(t, serveRoot);
  const loose = async (path: string) => Number(/^count: (\d+)$/m.exec(await git(join(stateDirOf(path), 'repo.git'), ['count-objects', '-v']))![1]);
  const always = join(root, 'data', 'always');
  const off = join(root, 'data', 'off');
  const a = await startAgent(t, { path: always, repo: daemon.url('gc'), branch: 'main', gc: 'always', staleAfter: 0 });
  const o = await startAgent(t, { path: off, repo: daemon.url('gc'), branch: 'main', gc: 'off', staleAfter: 0 });
  for (let i = 0; i < 3; i++) {
    const sha = await repo.commit({ 'n.txt': String(i) });
    await a.waitForMessage('synced', (m) => m.commit === sha);
    await o.waitForMessage('synced', (m) => m.commit === sha);
  }
  assert.equal(await loose(always), 0);
  assert.ok((await loose(off)) >= 9, 'three syncs of three loose objects each, never collected');
});
