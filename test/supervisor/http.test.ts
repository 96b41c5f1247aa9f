// src/supervisor/http.ts: the routes of the operations server, in process, over a real socket.

import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import { createOperationsServer } from '../../src/supervisor/http.js';
import { initialStatus, type RepoStatus } from '../../src/supervisor/status.js';
import type { Triggers } from '../../src/supervisor/triggers.js';
import type { PublishEvents } from '../../src/supervisor/events.js';

const silent = { error() {}, warn() {}, info() {}, debug() {} };

async function serve(t: { after(fn: () => unknown): void }, view: { statuses: () => RepoStatus[]; listingLoadedAt: () => string | null }) {
  const server: Server = createOperationsServer({ ...view, metrics: async () => ({ contentType: 'text/plain', body: 'm 1\n' }), triggers: {} as Triggers, events: {} as PublishEvents }, silent);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  const base = `http://127.0.0.1:${address.port}`;
  return async (path: string, init?: RequestInit) => {
    const res = await fetch(`${base}${path}`, init);
    return { status: res.status, allow: res.headers.get('allow'), body: await res.text() };
  };
}

function status(extra: Record<string, unknown> = {}): RepoStatus {
  const r = resolveEntry({ path: '/data/site', repo: 'https://h.example/site.git', ...extra }, 0, DEFAULTS);
  if ('errors' in r) throw new Error('fixture must be valid');
  return initialStatus(r.entry);
}

test('/healthz answers 200 whatever the repos do; /readyz names what holds it back, the listing first', async (t) => {
  let loaded = false;
  const get = await serve(t, { statuses: () => [status()], listingLoadedAt: () => (loaded ? '2026-01-01T00:00:00.000Z' : null) });
  assert.deepEqual(await get('/healthz'), { status: 200, allow: null, body: '{\n  "status": "ok"\n}\n' });
  let ready = await get('/readyz');
  assert.equal(ready.status, 503);
  assert.deepEqual(JSON.parse(ready.body).failing, [
    { name: '(listing)', reason: 'no valid listing has been read yet' },
    { name: 'site', reason: 'not published yet' },
  ]);
  loaded = true;
  ready = await get('/readyz/site');
  assert.deepEqual([ready.status, JSON.parse(ready.body).reason], [503, 'not published yet']);
  assert.equal((await get('/readyz/nope')).status, 404);
});

test('/status/{name} answers one entry; unknown paths 404, wrong methods 405 with Allow, a malformed path 400', async (t) => {
  const get = await serve(t, { statuses: () => [status()], listingLoadedAt: () => '2026-01-01T00:00:00.000Z' });
  const one = await get('/status/site');
  assert.equal(one.status, 200);
  assert.equal(JSON.parse(one.body).agentState, 'starting');
  assert.equal((await get('/status/nope')).status, 404);
  assert.equal((await get('/nowhere')).status, 404);
  const post = await get('/status', { method: 'POST', body: 'x' });
  assert.deepEqual([post.status, post.allow], [405, 'GET']);
  assert.equal((await get('/status/%E0%A4%A')).status, 400);
  assert.deepEqual(await get('/metrics'), { status: 200, allow: null, body: 'm 1\n' });
});
