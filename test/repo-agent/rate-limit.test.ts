// A host that asks us to slow down (429, or 503 with Retry-After) is obeyed: the entry waits as
// long as it said, asks nothing else meanwhile (no ls-remote fallback, no triggered sync), and
// reports kind "rate-limited" with the retry time it will really use.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { GitCommandError, GitRunner } from '../../src/repo-agent/git.js';
import { HttpProber } from '../../src/repo-agent/probe.js';
import { parseRetryAfter, RETRY_AFTER_CAP_MS, RETRY_AFTER_FLOOR_MS } from '../../src/repo-agent/rate-limit.js';
import { startAgent } from '../support/agent.js';
import { credentialFiles } from '../support/cross-origin.js';
import { RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { makeTempDir } from '../support/tmp.js';

test('Retry-After is read as seconds or as a date, within 1 s and 1 h; anything else is no time', () => {
  const now = Date.parse('2026-12-02T10:00:00Z');
  assert.equal(parseRetryAfter('7', now), 7_000);
  assert.equal(parseRetryAfter(' 120 ', now), 120_000);
  assert.equal(parseRetryAfter('Wed, 02 Dec 2026 10:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('0', now), RETRY_AFTER_FLOOR_MS);
  assert.equal(parseRetryAfter('Wed, 02 Dec 2026 09:00:00 GMT', now), RETRY_AFTER_FLOOR_MS, 'a date in the past');
  assert.equal(parseRetryAfter('86400', now), RETRY_AFTER_CAP_MS);
  assert.equal(parseRetryAfter('soon', now), null);
  assert.equal(parseRetryAfter('-5', now), null);
  assert.equal(parseRetryAfter(undefined, now), null);
});

async function limitedServer(t: Parameters<typeof makeTempDir>[0]) {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'r');
  const first = await repo.commit({ 'a.txt': '1\n' });
  const limit: { answer: { status: number; headers?: Record<string, string> } | null; requests: Array<{ at: number; refused: boolean }> } = { answer: null, requests: [] };
  const http = await startHttpGitServer(t, serveRoot, {
    refuse: () => {
      limit.requests.push({ at: Date.now(), refused: limit.answer !== null });
      return limit.answer;
    },
  });
  return { root, repo, first, http, limit };
}

test('the in-process probe tells a request to wait (429, 503 with Retry-After) from an outage (503 alone); git classifies its 429 as rate-limited', async (t) => {
  const { root, http, limit } = await limitedServer(t);
  const prober = new HttpProber(false);
  t.after(() => prober.close());
  const target = { url: http.url('r'), prefixes: ['HEAD'], auth: null, timeoutMs: 10_000 };
  limit.answer = { status: 429, headers: { 'Retry-After': '7' } };
  assert.deepEqual(await prober.probe(target), { rateLimited: { status: 429, retryAfterMs: 7_000 } });
  limit.answer = { status: 429 };
  assert.deepEqual(await prober.probe(target), { rateLimited: { status: 429, retryAfterMs: null } });
  limit.answer = { status: 503, headers: { 'Retry-After': '3' } };
  assert.deepEqual(await prober.probe(target), { rateLimited: { status: 503, retryAfterMs: 3_000 } });
  limit.answer = { status: 503 };
  assert.deepEqual(await prober.probe(target), { unknown: 'HTTP 503' });
  // Real git against the same host: its own message, classified.
  limit.answer = { status: 429, headers: { 'Retry-After': '7' } };
  const err = await new GitRunner(root).run(['ls-remote', http.url('r')], { timeoutMs: 30_000 }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof GitCommandError, String(err));
  assert.equal(err.kind, 'rate-limited', err.message);
});

test('an agent told 429 with Retry-After waits that long, asks nothing meanwhile (not git, not for a sync-now), then resumes', async (t) => {
  const { root, repo, first, http, limit } = await limitedServer(t);
  const creds = await credentialFiles(root, 'r', http);
  const agent = await startAgent(t, { path: join(root, 'data', 'r'), branch: 'main', repo: http.url('r'), ...creds });
  await agent.waitForMessage('synced', (m) => m.commit === first);

  const retryAfterS = 4;
  limit.answer = { status: 429, headers: { 'Retry-After': String(retryAfterS) } };
  const from = limit.requests.length;
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'rate-limited', failed.error.message);
  assert.match(failed.error.message, /HTTP 429 \(Retry-After 4s\)/);
  // The time reported is the host's, not our 1 s first backoff (0.8–1.2 s).
  assert.ok(failed.retryInMs > 2_000 && failed.retryInMs <= retryAfterS * 1000, `retryInMs ${failed.retryInMs}`);
  const refusedAt = limit.requests[from]!.at;
  assert.deepEqual(limit.requests.slice(from).map((r) => r.refused), [true], 'one request, no ls-remote after the probe was refused');

  // A webhook or sync-now while waiting is deferred, not sent to the host.
  agent.send({ type: 'sync-now', reason: 'webhook' });
  await agent.waitForMessage('log', (m) => m.message === 'sync deferred: the host asked to wait');
  assert.equal(limit.requests.length, from + 1, 'nothing reached the host for the sync-now');

  limit.answer = null;
  const next = await repo.commit({ 'a.txt': '2\n' });
  await agent.waitForMessage('synced', (m) => m.commit === next);
  const after = limit.requests.slice(from + 1);
  assert.ok(after.length > 0);
  // Load only makes the agent later, never earlier: no request before the host's time.
  for (const r of after) assert.ok(r.at >= refusedAt + retryAfterS * 1000, `a request ${r.at - refusedAt} ms after the refusal`);
});
