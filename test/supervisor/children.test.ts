// src/supervisor/children.ts: one record per entry (agent, status, series), as the supervisor
// keeps it — the Supervisor in process, its agents real child processes (fixtures).

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/supervisor/config.js';
import { Supervisor } from '../../src/supervisor/main.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { makeTempDir, waitFor } from '../support/tmp.js';
import { fixtureAgent, type FixtureAgent } from './fixture-agent.js';

const silent = { error() {}, warn() {}, info() {}, debug() {} };
const FAST = { baseMs: 50, capMs: 400, maxRestarts: 2, periodMs: 60_000, stableMs: 60_000 };

async function supervisor(t: Parameters<typeof makeTempDir>[0], kind: FixtureAgent, names: string[]) {
  const dir = await makeTempDir(t);
  const listing = join(dir, 'listing.json');
  const write = (n: string[]) => writeFile(listing, JSON.stringify(n.map((name) => ({ path: join(dir, 'data', name), repo: `https://h.example/${name}.git` }))));
  await write(names);
  const s = new Supervisor(loadConfig({ LISTING_PATH: listing, HTTP_BIND: '127.0.0.1:0' }), silent, { policy: FAST, agentScript: await fixtureAgent(dir, kind) });
  t.after(() => s.stop());
  await s.reload('test');
  const status = (name: string) => s.statuses().find((x) => x.name === name);
  const metrics = async () => parseMetrics(await s.metrics.registry.metrics());
  return { s, status, metrics, write };
}

test('an agent that keeps dying is shown crash-looping in /status and metrics, its restarts counted', async (t) => {
  const { s, status, metrics } = await supervisor(t, 'crashes', ['a']);
  await waitFor(() => status('a')?.state === 'crash-looping', { timeoutMs: 60_000, message: `a crash-looping: ${JSON.stringify(status('a'))}` });
  const a = status('a')!;
  assert.equal(a.agentState, 'crash-looping');
  assert.match(a.agentError?.message ?? '', /^agent pid \d+ exited with code 1$/);
  assert.ok(a.restarts >= 2, `restarts ${a.restarts}`);
  assert.notEqual(a.nextRetryAt, null);
  const m = await metrics();
  // The series follows the state: crash-looping now, or starting again in between (400 ms).
  const looping = sampleValue(m, 'git_autosync_agent_state', { repo: 'a', state: 'crash-looping' });
  const starting = sampleValue(m, 'git_autosync_agent_state', { repo: 'a', state: 'starting' });
  assert.equal((looping ?? 0) + (starting ?? 0), 1, 'one state series per repo');
  assert.ok(sampleValue(m, 'git_autosync_agent_restarts_total', { repo: 'a' })! >= 2);
  assert.equal(sampleValue(m, 'git_autosync_agent_up', { repo: 'a' }), 0);
  await s.stop();
});

test('an agent that refuses its entry is shown gave-up; removing the entry removes its record and every series', async (t) => {
  const { s, status, metrics, write } = await supervisor(t, 'refuses', ['a', 'b']);
  await waitFor(() => status('a')?.state === 'gave-up' && status('b')?.state === 'gave-up', { timeoutMs: 60_000, message: `both gave up: ${JSON.stringify(s.statuses())}` });
  assert.match(status('a')!.agentError?.message ?? '', /exited with code 78$/);
  let m = await metrics();
  assert.equal(sampleValue(m, 'git_autosync_agent_state', { repo: 'a', state: 'gave-up' }), 1);
  assert.equal(sampleValue(m, 'git_autosync_agent_state', { repo: 'a', state: 'starting' }), undefined, 'the old state series is gone');
  assert.equal(sampleValue(m, 'git_autosync_agent_restarts_total', { repo: 'a' }), 0, 'given up on, never restarted');

  await write(['b']);
  await s.reload('test');
  assert.equal(status('a'), undefined);
  assert.equal(s.children.get('a'), undefined);
  m = await metrics();
  assert.deepEqual(m.filter((x) => x.labels.repo === 'a').map((x) => x.name), [], 'no series of a removed entry remains');
  assert.equal(sampleValue(m, 'git_autosync_agent_state', { repo: 'b', state: 'gave-up' }), 1);
  await s.stop();
});
