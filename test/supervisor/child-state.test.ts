// src/supervisor/child-state.ts: the one vocabulary of states, and the README that lists it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AGENT_STATES, REPO_STATES, shownState, SYNC_STATES } from '../../src/supervisor/child-state.js';
import { Metrics } from '../../src/supervisor/metrics.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('the shown state is the process state, except a running agent shows its sync state (starting until it syncs)', () => {
  assert.deepEqual(AGENT_STATES.map(shownState), ['starting', 'starting', 'restarting', 'crash-looping', 'gave-up', 'stopping', 'stopped']);
  assert.ok(!REPO_STATES.includes('running' as never));
  for (const s of [...SYNC_STATES, 'invalid'] as const) assert.ok(REPO_STATES.includes(s));
  assert.equal(new Set(REPO_STATES).size, REPO_STATES.length);
});

test('the README names every state and every git_autosync series the supervisor exports', async () => {
  const section = readme.slice(readme.indexOf('## Operating it'), readme.indexOf('### Sync now'));
  for (const s of new Set([...AGENT_STATES, ...REPO_STATES])) assert.ok(section.includes(`\`${s}\``), `README does not list state ${s}`);
  const names = (await new Metrics().registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('git_autosync_'));
  assert.ok(names.length >= 10);
  for (const n of names) assert.ok(section.includes(n), `README does not list metric ${n}`);
});
