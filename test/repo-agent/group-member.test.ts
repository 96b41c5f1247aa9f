import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { oneRemote } from '../support/agent-fixture.js';
import { startAgent } from '../support/agent.js';
import { waitFor } from '../support/tmp.js';

test("a group member publishes only into its group's folder, and keeps the trees its group holds past staleAfter", async (t) => {
  const { root, remote, first, url } = await oneRemote(t, { 'version.txt': '1\n' });
  const set = join(root, 'data', 'set');
  const agent = await startAgent(t, { path: join(set, 'app'), repo: url, branch: 'main', group: 'set', staleAfter: 300 });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  const worktrees = join(root, 'data', '.set.git-autosync-group', 'members', '.app.git-autosync', 'worktrees');
  assert.deepEqual(readdirSync(worktrees), [first]);
  // Readers see the group's link only: the member writes nothing at its own path.
  assert.ok(!existsSync(set), 'nothing at the group folder until the group publishes');

  // The group's generation links the first tree.
  agent.send({ type: 'hold', commits: [first] });
  const second = await remote.commit({ 'version.txt': '2\n' });
  await agent.waitForMessage('synced', (m) => m.commit === second);
  const third = await remote.commit({ 'version.txt': '3\n' });
  await agent.waitForMessage('synced', (m) => m.commit === third);
  // The second tree, replaced after the first and held by nobody, goes after staleAfter ...
  await waitFor(() => !existsSync(join(worktrees, second)), { message: 'the unheld replaced tree removed' });
  // ... while the held first one, replaced earlier, stays.
  assert.ok(existsSync(join(worktrees, first)), 'a held tree is kept past staleAfter');

  agent.send({ type: 'hold', commits: [] });
  await waitFor(() => readdirSync(worktrees).join() === third, { message: 'the tree let go of is removed' });
});
