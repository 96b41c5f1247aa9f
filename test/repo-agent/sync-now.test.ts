import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oneRemote } from '../support/agent-fixture.js';
import { startAgent } from '../support/agent.js';

test('a sync-now that arrives while a sync runs is run after it, and the entry keeps polling', async (t) => {
  const { remote, first, url, path } = await oneRemote(t);
  // Polled every ten minutes: a second sync soon after the first was asked for.
  const agent = await startAgent(t, { path, repo: url, branch: 'main', interval: 600_000 });
  await agent.waitForMessage('sync-started');
  // The start-up sync is under way (it fetches): this request has to wait for it.
  agent.send({ type: 'sync-now', reason: 'test' });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  const second = await agent.waitForMessage('sync-started', (m) => m.reason === 'sync-now');
  assert.equal(second.reason, 'sync-now');
  await agent.waitForMessage('unchanged');
  // And it is not the last: a later request is answered too (the loop was not left without a timer or a pending sync).
  const next = await remote.commit({ 'version.txt': '2\n' });
  agent.send({ type: 'sync-now', reason: 'test' });
  await agent.waitForMessage('synced', (m) => m.commit === next);
});
