// `ref: "semver:<range>"` (#18): the highest tag in the range is published and followed, over a
// real git daemon (the in-process ls-refs probe) and plain git (file://, git ls-remote).

import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { oneRemote } from '../support/agent-fixture.js';
import { startAgent, type RunningAgent } from '../support/agent.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { waitFor } from '../support/tmp.js';

const syncedTo = (agent: RunningAgent, commit: string) => agent.waitForMessage('synced', (m) => m.commit === commit);

/** Tags 1.3.0, v1.4.0, 1.4.2, 2.0.0 and 1.5.0-rc.1, each on a commit of its own. */
async function taggedRemote(t: Parameters<typeof oneRemote>[0]) {
  const fx = await oneRemote(t);
  const at: Record<string, string> = {};
  for (const tag of ['1.3.0', 'v1.4.0', '1.4.2', '2.0.0', '1.5.0-rc.1']) {
    await fx.remote.commit({ 'version.txt': `${tag}\n` });
    at[tag] = await fx.remote.tag(tag, { annotated: tag !== '1.4.2' });
  }
  return { ...fx, at };
}

test('the highest tag in the range is published (not 2.0.0, not the pre-release), and the synced message names the tag and version', async (t) => {
  const s = await taggedRemote(t);
  const agent = await startAgent(t, { path: s.path, repo: s.url, ref: 'semver:>=1.4 <2' });
  const synced = await syncedTo(agent, s.at['1.4.2']!);
  assert.deepEqual(synced.tag, { name: '1.4.2', version: '1.4.2' });
  assert.equal(readPublishedFile(s.path, 'version.txt'), '1.4.2\n');

  // A lower new tag, and a pre-release inside the range's numbers, change nothing and fetch nothing.
  const fetchHead = join(stateDirOf(s.path), 'repo.git', 'FETCH_HEAD');
  const before = statSync(fetchHead).mtimeMs;
  await s.remote.commit({ 'version.txt': 'lower\n' });
  await s.remote.tag('v1.4.1', { annotated: true });
  await s.remote.commit({ 'version.txt': 'beta\n' });
  await s.remote.tag('1.9.0-beta.1', { annotated: true });
  const from = agent.messages.length;
  await waitFor(() => agent.messages.slice(from).filter((m) => m.type === 'unchanged').length >= 3, { message: 'three polls after the new tags' });
  assert.ok(agent.messages.slice(from).every((m) => m.type !== 'synced' && m.type !== 'failed'), JSON.stringify(agent.messages.slice(from).filter((m) => m.type !== 'unchanged')));
  assert.equal(statSync(fetchHead).mtimeMs, before, 'an unchanged poll fetches nothing');
  assert.equal(publishedCommit(s.path), s.at['1.4.2']);
  const unchanged = agent.messages.slice(from).find((m) => m.type === 'unchanged');
  assert.deepEqual(unchanged?.type === 'unchanged' && unchanged.tag, { name: '1.4.2', version: '1.4.2' });

  // A higher tag in the range, spelled with "v", is followed.
  const higher = await s.remote.commit({ 'version.txt': '1.10.0\n' });
  await s.remote.tag('v1.10.0', { annotated: true });
  const moved = await syncedTo(agent, higher);
  assert.deepEqual(moved.tag, { name: 'v1.10.0', version: '1.10.0' });
  assert.equal(readPublishedFile(s.path, 'version.txt'), '1.10.0\n');
});

test('a range that names a pre-release may pick one; over file:// (git ls-remote) too', async (t) => {
  const s = await taggedRemote(t);
  const agent = await startAgent(t, { path: s.path, repo: `file://${s.remote.bareDir}`, ref: 'semver:>=1.5.0-rc.0 <2' });
  const synced = await syncedTo(agent, s.at['1.5.0-rc.1']!);
  assert.deepEqual(synced.tag, { name: '1.5.0-rc.1', version: '1.5.0-rc.1' });
});

test('no tag in the range is an invalid-ref failure naming the range; a bad range is refused by the listing', async (t) => {
  const s = await taggedRemote(t);
  const agent = await startAgent(t, { path: s.path, repo: s.url, ref: 'semver:^3' });
  const f = await agent.waitForMessage('failed', (m) => m.error.kind === 'invalid-ref');
  assert.match(f.error.message, /no tag on .* is a version in the range "\^3"/);
  assert.equal(publishedCommit(s.path), null);
  await assert.rejects(startAgent(t, { path: s.path, repo: s.url, ref: 'semver:not a range' }), /listing entry #1 \("app"\): "ref" "semver:not a range" must hold a semver range after "semver:"/);
});
