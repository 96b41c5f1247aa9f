import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { oneRemote } from '../support/agent-fixture.js';
import { startAgent } from '../support/agent.js';
import { git, RemoteRepo } from '../support/git-repo.js';
import { isSymlink, publishedCommit, readPublishedFile, stateDirOf, worktreesOnDisk } from '../support/published.js';
import { waitFor } from '../support/tmp.js';

const setup = (t: Parameters<typeof oneRemote>[0]) => oneRemote(t, { 'version.txt': '1\n', 'old.txt': 'old\n' });

test('replaced trees are removed after staleAfter, leaving only the published one', async (t) => {
  const { remote, first, url, path } = await setup(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main', staleAfter: 300 });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  let last = first;
  for (let i = 2; i <= 4; i++) {
    last = await remote.commit({ 'version.txt': `${i}\n` });
    await agent.waitForMessage('synced', (m) => m.commit === last);
  }
  // Removal deletes the tree, then has git forget it: wait for both.
  const registered = () => readdirSync(join(stateDirOf(path), 'repo.git', 'worktrees')).join();
  await waitFor(() => worktreesOnDisk(path).join() === last && registered() === last, {
    message: `only ${last} on disk and registered with git`,
  });
  assert.equal(publishedCommit(path), last);
});

test("a plain clone made by the original tool is taken over: it becomes a symlink with no error", async (t) => {
  const { root, remote, url, path } = await setup(t);
  await mkdir(join(root, 'data'), { recursive: true });
  await git(join(root, 'data'), ['clone', '--quiet', '--branch', 'main', url, path]);
  assert.ok(lstatSync(path).isDirectory());
  const second = await remote.commit({ 'version.txt': '2\n' });
  const agent = await startAgent(t, { path, repo: `${url}/`, branch: 'main' });
  await agent.waitForMessage('synced', (m) => m.commit === second);
  assert.ok(isSymlink(path));
  assert.equal(readPublishedFile(path, 'version.txt'), '2\n');
  // The old directory was moved aside and is deleted once readers had time to finish.
  await waitFor(() => readdirSync(join(stateDirOf(path), 'aside')).length === 0, { message: 'old clone removed' });
  assert.ok(!agent.messages.some((m) => m.type === 'failed'));
});

test('a non-empty directory that is not a clone of the repo is never touched', async (t) => {
  const { root, url, path } = await setup(t);
  await mkdir(path, { recursive: true });
  await writeFile(join(path, 'precious.db'), 'do not delete');
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'local-state');
  assert.ok(failed.error.message.includes(path), failed.error.message);
  assert.match(failed.error.message, /will not delete or overwrite it/);
  assert.equal(readFileSync(join(path, 'precious.db'), 'utf8'), 'do not delete');
  assert.ok(!isSymlink(path));
  void root;
});

test('a file or a foreign symlink at path is refused with a clear error', async (t) => {
  const { root, url } = await setup(t);
  await mkdir(join(root, 'data'), { recursive: true });
  const filePath = join(root, 'data', 'file');
  await writeFile(filePath, 'x');
  const agent = await startAgent(t, { path: filePath, repo: url, branch: 'main' });
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'local-state');
  assert.match(failed.error.message, /is a file that git-autosync did not make/);
  assert.equal(readFileSync(filePath, 'utf8'), 'x');
});

test('in-place mode keeps a plain clone at path and follows pushes, deletions and force pushes', async (t) => {
  const { remote, first, url, path } = await setup(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main', publish: 'in-place' });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  assert.ok(lstatSync(path).isDirectory() && !isSymlink(path));
  assert.equal(await git(path, ['rev-parse', 'HEAD']), first);
  const second = await remote.commit({ 'version.txt': '2\n', 'old.txt': null });
  await agent.waitForMessage('synced', (m) => m.commit === second);
  assert.equal(readFileSync(join(path, 'version.txt'), 'utf8'), '2\n');
  assert.ok(!existsSync(join(path, 'old.txt')), 'a file deleted upstream is deleted');
  await writeFile(join(path, 'version.txt'), 'local edit');
  const rewritten = await remote.rewriteHistory({ 'version.txt': 'rewritten\n' });
  await agent.waitForMessage('synced', (m) => m.commit === rewritten);
  assert.equal(readFileSync(join(path, 'version.txt'), 'utf8'), 'rewritten\n');
  assert.equal(publishedCommit(path), null, 'no symlink in in-place mode');
});

test('in-place mode takes over the original tool\'s clone and refuses a clone of another repo', async (t) => {
  const { root, remote, url, path } = await setup(t);
  await mkdir(join(root, 'data'), { recursive: true });
  await git(join(root, 'data'), ['clone', '--quiet', url, path]);
  const second = await remote.commit({ 'version.txt': '2\n' });
  const agent = await startAgent(t, { path, repo: url, branch: 'main', publish: 'in-place' });
  await agent.waitForMessage('synced', (m) => m.commit === second);
  assert.equal(readFileSync(join(path, 'version.txt'), 'utf8'), '2\n');

  const otherRemote = await RemoteRepo.create(join(root, 'remotes'), 'other');
  await otherRemote.commit({ 'x.txt': 'x' });
  const otherPath = join(root, 'data', 'other');
  await git(join(root, 'data'), ['clone', '--quiet', otherRemote.bareDir, otherPath]);
  const refused = await startAgent(t, { path: otherPath, repo: url, branch: 'main', publish: 'in-place' });
  const failed = await refused.waitForMessage('failed');
  assert.equal(failed.error.kind, 'local-state');
  assert.match(failed.error.message, /is a clone of another repository/);
  assert.equal(readFileSync(join(otherPath, 'x.txt'), 'utf8'), 'x');
});
