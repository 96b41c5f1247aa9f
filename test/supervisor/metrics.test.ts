// src/supervisor/metrics.ts: each repo's series appear with it, follow its record, and go with it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentState } from '../../src/supervisor/child-state.js';
import { Metrics } from '../../src/supervisor/metrics.js';
import type { StateChange } from '../../src/supervisor/supervision.js';
import { parseMetrics, sampleValue } from '../support/prom.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const change = (from: AgentState, to: AgentState): StateChange => ({ from, to, pid: null, restarts: 0, failure: null, restartInMs: null });

test('sync errors are counted by kind; the state series follows the agent; a restart after a death is counted', async () => {
  const m = new Metrics();
  m.addRepo('site');
  m.onAgentMessage('site', { type: 'failed', error: { kind: 'auth', message: 'no' }, consecutiveFailures: 1, retryInMs: 1000, durationMs: 3 });
  m.onAgentMessage('site', { type: 'failed', error: { kind: 'auth', message: 'no' }, consecutiveFailures: 2, retryInMs: 2000, durationMs: 3 });
  m.onAgentMessage('site', { type: 'failed', error: { kind: 'network', message: 'down' }, consecutiveFailures: 3, retryInMs: 4000, durationMs: 3 });
  m.onStateChange('site', change('starting', 'running'));
  let s = parseMetrics(await m.registry.metrics());
  assert.equal(sampleValue(s, 'git_autosync_sync_errors_total', { repo: 'site', kind: 'auth' }), 2);
  assert.equal(sampleValue(s, 'git_autosync_sync_errors_total', { repo: 'site', kind: 'network' }), 1);
  assert.equal(sampleValue(s, 'git_autosync_sync_total', { repo: 'site', result: 'error' }), 3);
  assert.deepEqual(s.filter((x) => x.name === 'git_autosync_agent_state').map((x) => [x.labels.state, x.value]), [['running', 1]]);
  assert.equal(sampleValue(s, 'git_autosync_agent_up', { repo: 'site' }), 1);

  m.onStateChange('site', change('running', 'restarting'));
  m.onStateChange('site', change('restarting', 'starting'));
  m.onStateChange('site', change('starting', 'crash-looping'));
  s = parseMetrics(await m.registry.metrics());
  assert.deepEqual(s.filter((x) => x.name === 'git_autosync_agent_state').map((x) => [x.labels.state, x.value]), [['crash-looping', 1]]);
  assert.equal(sampleValue(s, 'git_autosync_agent_restarts_total', { repo: 'site' }), 1);
  assert.equal(sampleValue(s, 'git_autosync_agent_up', { repo: 'site' }), 0);
});

test('the published commit has one series, replaced when the commit moves; a removed repo leaves no series', async () => {
  const m = new Metrics();
  m.addRepo('site');
  m.addRepo('other');
  m.onCommit('site', null, A);
  m.onCommit('site', A, B);
  m.onAgentMessage('site', { type: 'failed', error: { kind: 'git', message: 'x' }, consecutiveFailures: 1, retryInMs: 1000, durationMs: 3 });
  m.onAgentMessage('site', { type: 'hook', hook: 'exec', ok: true, commit: B, durationMs: 1, message: '' });
  let s = parseMetrics(await m.registry.metrics());
  assert.deepEqual(s.filter((x) => x.name === 'git_autosync_published_commit_info').map((x) => x.labels.commit), [B]);
  m.removeRepo('site', { agentState: 'starting', publishedCommit: B });
  s = parseMetrics(await m.registry.metrics());
  assert.deepEqual(s.filter((x) => x.labels.repo === 'site').map((x) => x.name), []);
  assert.ok(s.some((x) => x.labels.repo === 'other'), 'the other repo keeps its series');
});
