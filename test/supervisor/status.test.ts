import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import type { AgentMessage } from '../../src/shared/protocol.js';
import { applyAgentMessage, applyStateChange, initialStatus, notReadyReason, readiness, refusedStatus } from '../../src/supervisor/status.js';

function entry(extra: Record<string, unknown> = {}) {
  const r = resolveEntry({ path: '/data/site', repo: 'https://h.example/site.git', branch: 'main', ...extra }, 0, DEFAULTS);
  if ('errors' in r) throw new Error('fixture must be valid');
  return r.entry;
}
const A = 'a'.repeat(40);

const running = { from: 'starting', to: 'running', pid: 42, restarts: 0, failure: null, restartInMs: null } as const;

test('a repo is not ready until published, then ready; a failure keeps the published commit', () => {
  let s = applyStateChange(initialStatus(entry()), running, 0);
  assert.equal(notReadyReason(s, 0), 'not published yet');
  s = applyAgentMessage(s, { type: 'synced', commit: A, previousCommit: null, durationMs: 5, fetched: true, kept: [] }, 1000);
  assert.equal(notReadyReason(s, 1000), null);
  s = applyAgentMessage(s, { type: 'failed', error: { kind: 'network', message: 'down' }, consecutiveFailures: 1, retryInMs: 1000, durationMs: 3 }, 2000);
  assert.equal(s.state, 'failing');
  assert.equal(s.publishedCommit, A);
  assert.equal(s.consecutiveFailures, 1);
  assert.equal(s.nextRetryAt, new Date(3000).toISOString());
  assert.equal(notReadyReason(s, 2000), null, 'a failing remote does not make a published repo unready');
});

test('maxStaleness makes readiness fail once the last success is too old; required:false never holds it back', () => {
  let stale = initialStatus(entry({ maxStaleness: 5000 }));
  stale = applyAgentMessage(stale, { type: 'unchanged', commit: A, durationMs: 1 }, 10_000);
  assert.equal(notReadyReason(stale, 14_000), null);
  assert.match(notReadyReason(stale, 16_000)!, /beyond maxStaleness 5000 ms/);
  const optional = initialStatus(entry({ path: '/data/opt', required: false }));
  assert.deepEqual(readiness([stale, optional], 12_000), { ready: true, failing: [] });
  assert.deepEqual(readiness([stale, optional], 16_000).failing.map((f) => f.name), ['site']);
});

test('the repo URL in status never carries userinfo', () => {
  const s = initialStatus({ ...entry(), repo: 'https://user:secret@h.example/site.git' });
  assert.equal(s.repo, 'https://h.example/site.git');
});

test('one vocabulary: the process state shows while the agent does not run, the sync state while it does', () => {
  let s = initialStatus(entry());
  assert.deepEqual([s.state, s.agentState], ['starting', 'starting']);
  s = applyStateChange(s, running, 1000);
  assert.deepEqual([s.state, s.agentState, s.pid], ['starting', 'running', 42], 'running, not synced yet');
  s = applyAgentMessage(s, { type: 'sync-started', reason: 'startup' }, 1000);
  assert.equal(s.state, 'syncing');
  s = applyAgentMessage(s, { type: 'synced', commit: A, previousCommit: null, durationMs: 5, fetched: true, kept: [] }, 1000);
  assert.equal(s.state, 'synced');
  s = applyStateChange(s, { from: 'running', to: 'restarting', pid: null, restarts: 0, failure: 'agent pid 42 exited on SIGKILL', restartInMs: 1000 }, 2000);
  assert.deepEqual([s.state, s.agentState, s.pid], ['restarting', 'restarting', null], 'the agent died: not a failed sync');
  assert.deepEqual(s.agentError, { message: 'agent pid 42 exited on SIGKILL', at: new Date(2000).toISOString() });
  assert.equal(s.nextRetryAt, new Date(3000).toISOString());
  s = applyStateChange(s, { from: 'starting', to: 'crash-looping', pid: null, restarts: 6, failure: 'agent pid 43 exited with code 1', restartInMs: 300_000 }, 4000);
  assert.deepEqual([s.state, s.restarts], ['crash-looping', 6]);
  s = applyStateChange(s, { from: 'starting', to: 'gave-up', pid: null, restarts: 6, failure: 'agent pid 44 exited with code 78', restartInMs: null }, 5000);
  assert.equal(s.state, 'gave-up');
  assert.equal(s.publishedCommit, A, 'what was published stays named');
  // A late message from an agent being stopped does not hide that it stops.
  s = applyStateChange(s, { from: 'gave-up', to: 'stopping', pid: null, restarts: 6, failure: null, restartInMs: null }, 6000);
  s = applyAgentMessage(s, { type: 'unchanged', commit: A, durationMs: 1 }, 6000);
  assert.equal(s.state, 'stopping');
});

test('a refused entry no agent runs is invalid, with no agent state and no readiness held back', () => {
  const s = refusedStatus({ index: 2, name: undefined, path: undefined, message: 'listing entry #3: must be an object' }, new Date(0).toISOString());
  assert.deepEqual([s.name, s.state, s.agentState, s.required], ['(entry #3)', 'invalid', null, false]);
  assert.equal(s.invalid?.message, 'listing entry #3: must be an object');
});

const B = 'b'.repeat(40);
const synced = (commit: string, durationMs = 5): AgentMessage => ({ type: 'synced', commit, previousCommit: null, durationMs, fetched: true, kept: [] });
const failed = (kind: 'network' | 'auth', durationMs = 3): AgentMessage => ({ type: 'failed', error: { kind, message: 'down' }, consecutiveFailures: 1, retryInMs: 1000, durationMs });

test('history keeps the last 20 outcomes, newest first, a failure with its kind', () => {
  let s = applyStateChange(initialStatus(entry()), running, 0);
  for (let i = 1; i <= 25; i++) s = applyAgentMessage(s, i % 5 === 0 ? failed('auth', i) : synced(i % 2 ? A : B, i), i * 1000);
  assert.equal(s.history.length, 20);
  assert.deepEqual(s.history.map((h) => h.durationMs), Array.from({ length: 20 }, (_, i) => 25 - i), 'newest first, the five oldest dropped');
  assert.deepEqual(s.history[0], { at: new Date(25_000).toISOString(), result: 'failed', commit: null, durationMs: 25, errorKind: 'auth', count: 1 });
  assert.deepEqual(s.history[1], { at: new Date(24_000).toISOString(), result: 'synced', commit: B, durationMs: 24, errorKind: null, count: 1 });
});

test('a run of unchanged polls of one commit is one history record that counts them; anything between breaks the run', () => {
  let s = applyStateChange(initialStatus(entry()), running, 0);
  s = applyAgentMessage(s, synced(A), 1000);
  for (let i = 2; i <= 40; i++) s = applyAgentMessage(s, { type: 'unchanged', commit: A, durationMs: i }, i * 1000);
  assert.deepEqual(s.history.map((h) => [h.result, h.count]), [['unchanged', 39], ['synced', 1]], 'an idle entry keeps its real events');
  assert.deepEqual([s.history[0]!.at, s.history[0]!.durationMs], [new Date(40_000).toISOString(), 40], 'the latest poll is the one shown');
  s = applyAgentMessage(s, failed('network'), 41_000);
  s = applyAgentMessage(s, { type: 'unchanged', commit: A, durationMs: 1 }, 42_000);
  assert.deepEqual(s.history.map((h) => [h.result, h.count]), [['unchanged', 1], ['failed', 1], ['unchanged', 39], ['synced', 1]]);
  assert.equal(s.history[1]!.errorKind, 'network');
});

test('progress shows while a fetch runs and is gone once it ends, fails, or the agent dies', () => {
  let s = applyStateChange(initialStatus(entry()), running, 0);
  assert.equal(s.progress, null);
  s = applyAgentMessage(s, { type: 'sync-started', reason: 'startup' }, 1);
  s = applyAgentMessage(s, { type: 'progress', progress: { phase: 'receiving', percent: 10, bytes: 1000 } }, 2);
  assert.deepEqual(s.progress, { phase: 'receiving', percent: 10, bytes: 1000 });
  assert.equal(applyAgentMessage(s, synced(A), 3).progress, null);
  assert.equal(applyAgentMessage(s, failed('network'), 3).progress, null);
  assert.equal(applyStateChange(s, { from: 'running', to: 'restarting', pid: null, restarts: 1, failure: 'killed', restartInMs: 1000 }, 3).progress, null);
  assert.equal(initialStatus(entry()).intervalMs, entry().intervalMs, 'the interval is shown with the entry');
});

test('/status keeps the refused unverified commit and the tag a semver ref resolved to, until a later publish (#18)', () => {
  let s = applyStateChange(initialStatus(entry()), running, 0);
  s = applyAgentMessage(s, { type: 'synced', commit: A, previousCommit: null, durationMs: 5, fetched: true, kept: [], tag: { name: 'v1.4.2', version: '1.4.2' } }, 1000);
  assert.deepEqual(s.resolvedTag, { name: 'v1.4.2', version: '1.4.2' });
  s = applyAgentMessage(s, { type: 'failed', error: { kind: 'unverified', message: 'no good signature', commit: B }, consecutiveFailures: 1, retryInMs: 1000, durationMs: 3 }, 2000);
  assert.equal(s.unverifiedCommit, B);
  assert.deepEqual(s.lastError, { kind: 'unverified', message: 'no good signature', commit: B, at: new Date(2000).toISOString() });
  s = applyAgentMessage(s, { type: 'unchanged', commit: A, durationMs: 1 }, 3000);
  assert.equal(s.unverifiedCommit, B, 'an unchanged poll (the refused commit skipped) keeps it');
  assert.deepEqual(s.resolvedTag, { name: 'v1.4.2', version: '1.4.2' });
  s = applyAgentMessage(s, { type: 'synced', commit: B, previousCommit: A, durationMs: 5, fetched: true, kept: [], tag: { name: 'v1.5.0', version: '1.5.0' } }, 4000);
  assert.equal(s.unverifiedCommit, null);
  assert.deepEqual(s.resolvedTag, { name: 'v1.5.0', version: '1.5.0' });
});
