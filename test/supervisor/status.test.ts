import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import { applyAgentMessage, initialStatus, notReadyReason, readiness } from '../../src/supervisor/status.js';

function entry(extra: Record<string, unknown> = {}) {
  const r = resolveEntry({ path: '/data/site', repo: 'https://h.example/site.git', branch: 'main', ...extra }, 0, DEFAULTS);
  if ('errors' in r) throw new Error('fixture must be valid');
  return r.entry;
}
const A = 'a'.repeat(40);

test('a repo is not ready until published, then ready; a failure keeps the published commit', () => {
  let s = initialStatus(entry());
  assert.equal(notReadyReason(s, 0), 'not published yet');
  s = applyAgentMessage(s, { type: 'synced', commit: A, previousCommit: null, durationMs: 5, fetched: true, kept: [] }, 1000);
  assert.equal(notReadyReason(s, 1000), null);
  s = applyAgentMessage(s, { type: 'failed', error: { kind: 'network', message: 'down' }, consecutiveFailures: 1, retryInMs: 1000, durationMs: 3 }, 2000);
  assert.equal(s.state, 'backoff');
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
