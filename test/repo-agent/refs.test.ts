import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { oneRemote } from '../support/agent-fixture.js';
import { startAgent, type RunningAgent } from '../support/agent.js';
import { publishedCommit, readPublishedFile, stateDirOf, worktreesOnDisk } from '../support/published.js';
import { waitFor } from '../support/tmp.js';

const syncedTo = (agent: RunningAgent, commit: string) => agent.waitForMessage('synced', (m) => m.commit === commit);

test('a push is published on the next poll', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await syncedTo(agent, first);
  const second = await remote.commit({ 'version.txt': '2\n' });
  const synced = await syncedTo(agent, second);
  assert.equal(synced.previousCommit, first);
  assert.equal(publishedCommit(path), second);
  assert.equal(readPublishedFile(path, 'version.txt'), '2\n');
});

test('an unchanged poll fetches nothing and writes nothing', async (t) => {
  const { first, url, path } = await oneRemote(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await syncedTo(agent, first);
  const fetchHead = join(stateDirOf(path), 'repo.git', 'FETCH_HEAD');
  const before = statSync(fetchHead).mtimeMs;
  const from = agent.messages.length;
  await waitFor(() => agent.messages.slice(from).filter((m) => m.type === 'unchanged').length >= 3, { message: 'three unchanged polls' });
  assert.equal(statSync(fetchHead).mtimeMs, before, 'an unchanged poll must not fetch');
  assert.deepEqual(worktreesOnDisk(path), [first]);
  assert.ok(agent.messages.slice(from).every((m) => m.type !== 'synced' && m.type !== 'failed'));
});

test('a force-pushed branch is followed without error', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const second = await remote.commit({ 'version.txt': '2\n' });
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await syncedTo(agent, second);
  const rewritten = await remote.rewriteHistory({ 'version.txt': 'rewritten\n' });
  assert.notEqual(rewritten, second);
  await syncedTo(agent, rewritten);
  assert.equal(readPublishedFile(path, 'version.txt'), 'rewritten\n');
  assert.ok(!agent.messages.some((m) => m.type === 'failed'), JSON.stringify(agent.messages.filter((m) => m.type === 'failed')));
  void first;
});

test('a branch deleted and re-created converges on the new branch', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await syncedTo(agent, first);
  await remote.deleteRemoteBranch('main');
  await agent.waitForMessage('failed', (m) => m.error.kind === 'invalid-ref');
  assert.equal(publishedCommit(path), first, 'the last good tree stays published while the branch is gone');
  const recreated = await remote.rewriteHistory({ 'version.txt': 'reborn\n' });
  await syncedTo(agent, recreated);
  assert.equal(readPublishedFile(path, 'version.txt'), 'reborn\n');
});

test('an annotated tag publishes the commit it points to, and a moved tag is followed', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  const tagged = await remote.tag('v1', { annotated: true });
  assert.equal(tagged, first);
  const agent = await startAgent(t, { path, repo: url, ref: 'v1' });
  await syncedTo(agent, first);
  const second = await remote.commit({ 'version.txt': '2\n' });
  await remote.tag('v1', { annotated: true, force: true, ref: second });
  await syncedTo(agent, second);
  assert.equal(readPublishedFile(path, 'version.txt'), '2\n');
});

test('a full ref name (refs/tags/…) works as ref', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  await remote.commit({ 'version.txt': '2\n' });
  await remote.tag('release', { ref: first });
  const agent = await startAgent(t, { path, repo: url, ref: 'refs/tags/release' });
  await syncedTo(agent, first);
  assert.equal(readPublishedFile(path, 'version.txt'), '1\n');
});

test('a pinned sha is published and stays, whatever the branch does', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  await remote.commit({ 'version.txt': '2\n' });
  const agent = await startAgent(t, { path, repo: url, ref: first });
  await syncedTo(agent, first);
  await remote.commit({ 'version.txt': '3\n' });
  const from = agent.messages.length;
  agent.send({ type: 'sync-now', reason: 'test' });
  await waitFor(() => agent.messages.slice(from).find((m) => m.type === 'unchanged'), { message: 'unchanged after sync-now' });
  assert.equal(publishedCommit(path), first);
  assert.equal(readPublishedFile(path, 'version.txt'), '1\n');
});

test('with no ref the remote HEAD is followed', async (t) => {
  const { remote, url, path } = await oneRemote(t);
  await remote.switchBranch('trunk', { create: true });
  const trunk = await remote.commit({ 'version.txt': 'trunk\n' });
  await remote.setDefaultBranch('trunk');
  const agent = await startAgent(t, { path, repo: url });
  await syncedTo(agent, trunk);
  const next = await remote.commit({ 'version.txt': 'trunk 2\n' });
  await syncedTo(agent, next);
});

test('switching the entry to another branch publishes it and retires the old tree', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  await remote.switchBranch('feature', { create: true });
  const feature = await remote.commit({ 'version.txt': 'feature\n' });
  const agent = await startAgent(t, { path, repo: url, branch: 'main' });
  await syncedTo(agent, first);
  await agent.stop();
  // A changed entry means a new agent for it, as the supervisor does.
  const switched = await startAgent(t, { path, repo: url, branch: 'feature' });
  const synced = await syncedTo(switched, feature);
  assert.equal(synced.previousCommit, first);
  assert.equal(readPublishedFile(path, 'version.txt'), 'feature\n');
  await waitFor(() => worktreesOnDisk(path).join() === feature, { message: 'old tree removed after staleAfter' });
});

test('a ref that does not exist is reported as invalid-ref and publishes nothing', async (t) => {
  const { url, path } = await oneRemote(t);
  const agent = await startAgent(t, { path, repo: url, branch: 'no-such-branch' });
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'invalid-ref');
  assert.match(failed.error.message, /no-such-branch/);
  assert.equal(publishedCommit(path), null);
});
