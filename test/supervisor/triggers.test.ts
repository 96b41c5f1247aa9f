// src/supervisor/triggers.ts: "sync now" from outside — which agents are told, what is answered
// and counted, and secrets read from their files on every request.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import { Metrics } from '../../src/supervisor/metrics.js';
import { Triggers, type Triggerable } from '../../src/supervisor/triggers.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { makeTempDir } from '../support/tmp.js';

const silent = { error() {}, warn() {}, info() {}, debug() {} };

function agent(name: string, repo: string, branch: string): Triggerable & { told: string[] } {
  const raw = { path: `/data/${name}`, repo, branch, name };
  const r = resolveEntry(raw, 0, DEFAULTS);
  if ('errors' in r) throw new Error('fixture must be valid');
  const told: string[] = [];
  return { name, desired: { index: 0, raw, entry: r.entry, fingerprint: '' }, syncNow: (reason: string) => told.push(reason), told };
}

async function fixture(t: Parameters<typeof makeTempDir>[0]) {
  const dir = await makeTempDir(t);
  const secretFile = join(dir, 'webhook-secret');
  const tokenFile = join(dir, 'sync-token');
  const agents = [agent('main', 'https://github.com/org/site.git', 'main'), agent('dev', 'https://github.com/org/site.git', 'dev'), agent('other', 'https://github.com/org/other.git', 'main')];
  const metrics = new Metrics();
  const triggers = new Triggers({ webhookSecretFile: secretFile, syncTokenFile: tokenFile }, () => agents, metrics, silent);
  const count = async (endpoint: string, result: string) => sampleValue(parseMetrics(await metrics.registry.metrics()), 'git_autosync_trigger_requests_total', { endpoint, result });
  return { secretFile, tokenFile, agents, triggers, count };
}

test('a signed push tells exactly the entries of that remote and branch; a bad signature tells nobody', async (t) => {
  const f = await fixture(t);
  await writeFile(f.secretFile, 's3cret\n');
  const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: 'https://github.com/Org/Site.git' } }));
  const signed = { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}` };
  const r = await f.triggers.webhook('github', signed, body);
  assert.deepEqual(r, { status: 202, body: { status: 'syncing', repos: ['main'] } });
  assert.deepEqual(f.agents.map((a) => a.told), [['github push'], [], []]);
  assert.equal(await f.count('github', 'accepted'), 1);

  const bad = await f.triggers.webhook('github', { ...signed, 'x-hub-signature-256': 'sha256=00' }, body);
  assert.equal(bad.status, 401);
  assert.equal(f.agents[0]!.told.length, 1, 'nobody told');
  assert.equal(await f.count('github', 'unauthorized'), 1);
});

test('/sync/{name} needs the bearer token read from its file at each request; without a file the endpoint does not exist', async (t) => {
  const f = await fixture(t);
  assert.equal((await f.triggers.syncByName('dev', 'Bearer x')).status, 404, 'no token file: disabled');
  assert.equal(await f.count('sync', 'disabled'), 1);
  await writeFile(f.tokenFile, 'tok-1\n');
  assert.equal((await f.triggers.syncByName('dev', 'Bearer tok-2')).status, 401);
  assert.deepEqual(await f.triggers.syncByName('dev', 'Bearer tok-1'), { status: 202, body: { status: 'syncing', repos: ['dev'] } });
  assert.deepEqual(f.agents.map((a) => a.told), [[], ['sync request'], []]);
  assert.equal((await f.triggers.syncByName('nope', 'Bearer tok-1')).status, 404);
  // Rotation needs no restart: the new token works at once, the old one no longer does.
  await writeFile(f.tokenFile, 'tok-2\n');
  assert.equal((await f.triggers.syncByName('dev', 'Bearer tok-1')).status, 401);
  assert.equal((await f.triggers.syncByName('dev', 'Bearer tok-2')).status, 202);
});
