import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

async function get(url: string): Promise<{ status: number; body: string; json: unknown; headers: Headers }> {
  const res = await fetch(url);
  const body = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(body);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, json, headers: res.headers };
}

const published = (name: string) => (l: LogLine) => l.message === 'published' && l.repo === name;

test('readiness is 503 naming the entry until its first publish, then 200; optional entries never hold it back', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const optional = await RemoteRepo.create(serveRoot, 'optional');
  const git = await startGitDaemon(t, serveRoot);
  await optional.commit({ 'x.txt': 'x' });
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify([
    { path: join(root, 'data', 'late'), repo: git.url('late'), branch: 'main' },
    { path: join(root, 'data', 'never'), repo: git.url('never'), branch: 'main', required: false },
  ]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' });
  const base = await daemon.httpUrl();
  await waitFor(async () => (await get(`${base}/status/late`)).json !== null, { message: 'status exists' });
  const before = await get(`${base}/readyz`);
  assert.equal(before.status, 503);
  const failing = (before.json as { failing: Array<{ name: string; reason: string }> }).failing;
  assert.deepEqual(failing.map((f) => f.name), ['late']);
  assert.equal((await get(`${base}/readyz/late`)).status, 503);
  assert.equal((await get(`${base}/readyz/never`)).status, 503);

  const late = await RemoteRepo.create(serveRoot, 'late');
  await late.commit({ 'x.txt': 'late' });
  await daemon.waitForLog(published('late'), 'late published');
  await waitFor(async () => (await get(`${base}/readyz`)).status === 200, { message: 'ready after first publish' });
  assert.equal((await get(`${base}/readyz/late`)).status, 200);
  assert.equal((await get(`${base}/readyz/nope`)).status, 404);
  assert.equal((await get(`${base}/healthz`)).status, 200);
});

test('status and metrics follow a remote going away and coming back; removed entries lose their series', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const app = await RemoteRepo.create(serveRoot, 'app');
  const head = await app.commit({ 'x.txt': 'x' });
  const git = await startGitDaemon(t, serveRoot);
  const other = await RemoteRepo.create(serveRoot, 'other');
  await other.commit({ 'y.txt': 'y' });
  const listing = join(root, 'listing.json');
  const both = [
    { path: join(root, 'data', 'app'), repo: git.url('app'), branch: 'main' },
    { path: join(root, 'data', 'other'), repo: git.url('other'), branch: 'main' },
  ];
  await writeFile(listing, JSON.stringify(both));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' });
  const base = await daemon.httpUrl();
  await daemon.waitForLog(published('app'), 'app published');
  const synced = (await waitFor(async () => {
    const s = (await get(`${base}/status/app`)).json as Record<string, unknown>;
    return s.state === 'synced' && s;
  }, { message: 'app synced in status' })) as Record<string, unknown>;
  assert.equal(synced.publishedCommit, head);
  assert.equal(synced.repo, git.url('app'));
  assert.equal(typeof synced.pid, 'number');
  let metrics = parseMetrics((await get(`${base}/metrics`)).body);
  assert.equal(sampleValue(metrics, 'git_autosync_published_commit_info', { repo: 'app', commit: head }), 1);
  assert.equal(sampleValue(metrics, 'git_autosync_agent_up', { repo: 'app' }), 1);
  assert.ok(sampleValue(metrics, 'git_autosync_sync_total', { repo: 'app', result: 'success' })! >= 1);
  assert.equal(sampleValue(metrics, 'git_autosync_listing_entries', { state: 'valid' }), 2);

  // The repository disappears from the server.
  await rename(app.bareDir, `${app.bareDir}.gone`);
  const failing = (await waitFor(async () => {
    const s = (await get(`${base}/status/app`)).json as Record<string, unknown>;
    return (s.consecutiveFailures as number) >= 2 && s;
  }, { message: 'failures in status' })) as Record<string, { kind: string } | unknown>;
  assert.equal(failing.state, 'failing', 'a failed sync, not a dead agent');
  assert.equal(failing.agentState, 'running');
  assert.equal((failing.lastError as { kind: string }).kind, 'not-found');
  assert.equal(failing.publishedCommit, head, 'the last good commit is still the published one');
  metrics = parseMetrics((await get(`${base}/metrics`)).body);
  assert.ok(sampleValue(metrics, 'git_autosync_consecutive_failures', { repo: 'app' })! >= 2);
  assert.ok(sampleValue(metrics, 'git_autosync_sync_total', { repo: 'app', result: 'error' })! >= 2);
  assert.ok(sampleValue(metrics, 'git_autosync_sync_errors_total', { repo: 'app', kind: 'not-found' })! >= 2, 'errors counted by kind');
  assert.equal(sampleValue(metrics, 'git_autosync_agent_state', { repo: 'app', state: 'running' }), 1);

  // And comes back.
  await rename(`${app.bareDir}.gone`, app.bareDir);
  await waitFor(async () => ((await get(`${base}/status/app`)).json as Record<string, unknown>).consecutiveFailures === 0, {
    message: 'recovered',
    timeoutMs: 30_000,
  });
  metrics = parseMetrics((await get(`${base}/metrics`)).body);
  assert.equal(sampleValue(metrics, 'git_autosync_consecutive_failures', { repo: 'app' }), 0);

  // Removing the entry removes its series and its status.
  await writeFile(listing, JSON.stringify([both[1]]));
  await waitFor(async () => (await get(`${base}/status/app`)).status === 404, { message: 'status gone' });
  metrics = parseMetrics((await get(`${base}/metrics`)).body);
  assert.ok(!metrics.some((s) => s.labels.repo === 'app'), 'no series left for app');
  assert.ok(metrics.some((s) => s.labels.repo === 'other'), 'other keeps its series');
});

test('with http credentials, no secret appears in /status, /metrics or any log line', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const app = await RemoteRepo.create(serveRoot, 'app');
  await app.commit({ 'x.txt': 'x' });
  const http = await startHttpGitServer(t, serveRoot);
  await writeFile(join(root, 'user'), http.username);
  await writeFile(join(root, 'pass'), 'wrong-secret-123');
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify([
    { path: join(root, 'data', 'app'), repo: http.url('app'), branch: 'main', usernameFile: join(root, 'user'), passwordFile: join(root, 'pass') },
  ]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' });
  const base = await daemon.httpUrl();
  await daemon.waitForLog((l) => l.message === 'sync failed' && l.kind === 'auth', 'auth failure logged');
  await writeFile(join(root, 'pass'), http.password);
  await daemon.waitForLog(published('app'), 'published after rotation');
  const outputs = [(await get(`${base}/status`)).body, (await get(`${base}/metrics`)).body, daemon.output()];
  await daemon.stop();
  for (const secret of ['wrong-secret-123', http.password]) {
    for (const text of [...outputs, daemon.output()]) assert.ok(!text.includes(secret), `secret ${secret} leaked`);
  }
});

test('unknown paths answer 404 and wrong methods 405, as JSON without stack traces', async (t) => {
  const root = await makeTempDir(t);
  const listing = join(root, 'listing.json');
  await writeFile(listing, '[]');
  const daemon = startDaemon(t, { LISTING_PATH: listing });
  const base = await daemon.httpUrl();
  const missing = await get(`${base}/nope`);
  assert.equal(missing.status, 404);
  const wrong = await fetch(`${base}/status`, { method: 'POST', body: 'x' });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get('allow'), 'GET');
  assert.doesNotMatch(await wrong.text(), /at .*\.js:\d+/);
  // The HTTP server answers before the listing is read; an empty listing is ready once it is.
  await waitFor(async () => (await get(`${base}/readyz`)).status === 200, { message: 'an empty listing is ready' });
  assert.match((await get(`${base}/metrics`)).body, /process_cpu_seconds_total/);
});

test('readiness stays 503 while no valid listing has ever been read', async (t) => {
  const root = await makeTempDir(t);
  const listing = join(root, 'listing.json');
  await writeFile(listing, '[{"path": ');
  const daemon = startDaemon(t, { LISTING_PATH: listing });
  const base = await daemon.httpUrl();
  await daemon.waitForLog((l) => l.message === 'listing rejected; nothing is running, waiting for a valid listing', 'broken listing rejected');
  const before = await get(`${base}/readyz`);
  assert.equal(before.status, 503);
  assert.match(before.body, /no valid listing has been read yet/);
  await writeFile(listing, '[]');
  await waitFor(async () => (await get(`${base}/readyz`)).status === 200, { message: 'ready once a listing is read' });
});
