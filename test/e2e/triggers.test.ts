import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import type { LogLine } from '../support/daemon.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { startTriggeredDaemon } from '../support/served-repos.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

const SECRET = 'webhook-secret-for-tests';
const TOKEN = 'sync-token-for-tests';

async function setup(t: Parameters<typeof makeTempDir>[0]) {
  const s = await startTriggeredDaemon(t, { secret: SECRET, token: TOKEN });
  await s.daemon.waitForLog((l) => l.message === 'agent ready', 'agent ready');
  return s;
}

function githubPush(url: string, ref = 'refs/heads/main', secret = SECRET): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ ref, repository: { clone_url: url.replace('git://', 'https://'), html_url: 'https://example.invalid/x' } });
  const sig = createHmac('sha256', secret).update(body).digest('hex');
  return { body, headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sig}` } };
}

const published = (commit: string) => (l: LogLine) => l.message === 'published' && l.commit === commit;

test('a GitHub push webhook publishes the push at once, long before the next poll', async (t) => {
  const s = await setup(t);
  const pushed = await s.site.commit({ 'v.txt': '2' });
  const hook = githubPush(s.git.url('site'));
  const res = await fetch(`${s.base}/webhook/github`, { method: 'POST', body: hook.body, headers: hook.headers });
  assert.equal(res.status, 202);
  assert.deepEqual(((await res.json()) as { repos: string[] }).repos, ['site']);
  await s.daemon.waitForLog(published(pushed), 'published after the webhook', 10_000);
});

test('bad signatures and tokens are refused, counted, and sync nothing', async (t) => {
  const s = await setup(t);
  const hook = githubPush(s.git.url('site'), 'refs/heads/main', 'wrong-secret');
  assert.equal((await fetch(`${s.base}/webhook/github`, { method: 'POST', body: hook.body, headers: hook.headers })).status, 401);
  const gitlab = await fetch(`${s.base}/webhook/gitlab`, { method: 'POST', body: '{}', headers: { 'x-gitlab-token': 'nope', 'x-gitlab-event': 'Push Hook' } });
  assert.equal(gitlab.status, 401);
  assert.equal((await fetch(`${s.base}/sync/site`, { method: 'POST', headers: { authorization: 'Bearer nope' } })).status, 401);
  assert.equal((await fetch(`${s.base}/sync/site`, { method: 'POST' })).status, 401);
  const other = githubPush(s.git.url('other'));
  const ignored = await fetch(`${s.base}/webhook/github`, { method: 'POST', body: other.body, headers: other.headers });
  assert.equal(ignored.status, 202, 'a push to another repo is accepted and ignored');
  // The server answers 413 and closes the connection at once, never reading on; a client still
  // sending can see that close as a reset before it reads the 413 (test/hostile/http-abuse.test.ts).
  const huge = await fetch(`${s.base}/webhook/github`, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024), headers: hook.headers }).then(
    (r) => r.status,
    (err: Error & { cause?: { code?: string } }) => err.cause?.code ?? err.message,
  );
  assert.ok([413, 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(huge), `an oversized body is refused: ${huge}`);
  const metrics = parseMetrics(await (await fetch(`${s.base}/metrics`)).text());
  assert.equal(sampleValue(metrics, 'git_autosync_trigger_requests_total', { endpoint: 'github', result: 'unauthorized' }), 1);
  assert.equal(sampleValue(metrics, 'git_autosync_trigger_requests_total', { endpoint: 'sync', result: 'unauthorized' }), 2);
  assert.equal(sampleValue(metrics, 'git_autosync_sync_total', { repo: 'site', result: 'success' }), 1, 'nothing synced since the first publish');
  assert.equal(sampleValue(metrics, 'git_autosync_sync_total', { repo: 'site', result: 'unchanged' }), 0);
});

test('100 concurrent triggers for one repo produce at most two syncs', async (t) => {
  const s = await setup(t);
  const pushed = await s.site.commit({ 'v.txt': '3' });
  const syncs = async () => {
    const m = parseMetrics(await (await fetch(`${s.base}/metrics`)).text());
    return ['success', 'unchanged', 'error'].reduce((n, result) => n + (sampleValue(m, 'git_autosync_sync_total', { repo: 'site', result }) ?? 0), 0);
  };
  const before = await syncs();
  const answers = await Promise.all(
    Array.from({ length: 100 }, () => fetch(`${s.base}/sync/site`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.status)),
  );
  assert.ok(answers.every((a) => a === 202), `all accepted: ${[...new Set(answers)].join(',')}`);
  await s.daemon.waitForLog(published(pushed), 'published');
  // Quiet: the status stays synced and the count stops moving.
  let last = -1;
  await waitFor(async () => {
    const now = await syncs();
    const still = now === last;
    last = now;
    return still && now > before;
  }, { message: 'sync count settles', intervalMs: 500 });
  assert.ok(last - before >= 1 && last - before <= 2, `syncs for 100 triggers: ${last - before}`);
});
