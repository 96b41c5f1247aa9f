// src/supervisor/supervision.ts: the restart policy (pure) and SupervisedAgent with real child
// processes (fixtures that crash, refuse their entry, or idle), asserting the order of states.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import type { DesiredEntry } from '../../src/supervisor/listing.js';
import { DEFAULT_POLICY, planRestart, restartDelay, SupervisedAgent, type StateChange } from '../../src/supervisor/supervision.js';
import { makeTempDir, waitFor } from '../support/tmp.js';
import { fixtureAgent, type FixtureAgent } from './fixture-agent.js';

test('restart backoff doubles from 1 s to the 5 min cap with jitter', () => {
  const policy = { baseMs: 1000, capMs: 300_000 };
  assert.deepEqual([1, 2, 3].map((n) => restartDelay(n, policy, () => 0.5)), [1000, 2000, 4000]);
  assert.equal(restartDelay(40, policy, () => 1), 300_000);
  assert.equal(restartDelay(1, policy, () => 0), 800);
});

test('restart intensity: more than maxRestarts within the period waits the full cap; a stable run starts backoff over', () => {
  const policy = { ...DEFAULT_POLICY, maxRestarts: 3, periodMs: 60_000, stableMs: 30_000 };
  let h = { crashes: 0, restartTimes: [] as number[], startedAt: 0 };
  const delays: number[] = [];
  const looping: boolean[] = [];
  for (let i = 0; i < 5; i++) {
    const now = 1000 + i * 100; // five quick crashes
    const plan = planRestart(h, now, policy, () => 0.5);
    delays.push(plan.delay);
    looping.push(plan.crashLooping);
    h = { crashes: plan.crashes, restartTimes: plan.restartTimes, startedAt: now };
  }
  assert.deepEqual(delays, [1000, 2000, 4000, policy.capMs, policy.capMs]);
  assert.deepEqual(looping, [false, false, false, true, true]);
  // A run longer than stableMs, long after the crashes: backoff and intensity start over.
  const later = planRestart(h, 10_000_000, policy, () => 0.5);
  assert.equal(later.delay, 1000);
  assert.equal(later.crashLooping, false);
});

function desired(name: string): DesiredEntry {
  const raw = { path: `/data/${name}`, repo: 'https://h.example/site.git', name };
  const r = resolveEntry(raw, 0, DEFAULTS);
  if ('errors' in r) throw new Error('fixture must be valid');
  return { index: 0, raw, entry: r.entry, fingerprint: JSON.stringify(raw) };
}

const silent = { error() {}, warn() {}, info() {}, debug() {} };
/** Fast restarts: 50 ms doubling; more than 2 deaths a minute is crash-looping (then 400 ms). */
const FAST = { ...DEFAULT_POLICY, baseMs: 50, capMs: 400, maxRestarts: 2, periodMs: 60_000, stableMs: 60_000 };

async function supervise(t: Parameters<typeof makeTempDir>[0], kind: FixtureAgent) {
  const dir = await makeTempDir(t);
  const changes: StateChange[] = [];
  const agent = new SupervisedAgent(desired(kind), {
    log: silent,
    onMessage: () => undefined,
    onStateChange: (_a, c) => changes.push(c),
    policy: FAST,
    script: await fixtureAgent(dir, kind),
  });
  t.after(() => agent.stop());
  agent.start();
  return { agent, changes, states: () => changes.map((c) => c.to) };
}

test('an agent that dies at once is restarted with backoff, then reported crash-looping past the restart intensity', async (t) => {
  const { agent, changes, states } = await supervise(t, 'crashes');
  await waitFor(() => states().includes('crash-looping'), { timeoutMs: 60_000, message: `crash-looping reached: ${states().join(' → ')}` });
  assert.deepEqual(states().slice(0, 5), ['restarting', 'starting', 'restarting', 'starting', 'crash-looping']);
  const looping = changes.find((c) => c.to === 'crash-looping')!;
  assert.equal(looping.from, 'starting');
  assert.equal(looping.restartInMs, FAST.capMs, 'past the intensity limit it waits the longest backoff');
  assert.match(looping.failure ?? '', /^agent pid \d+ exited with code 1$/);
  assert.equal(looping.restarts, 2);
  assert.ok(changes.filter((c) => c.to === 'restarting').every((c) => c.restartInMs !== null && c.restartInMs < FAST.capMs));
  await agent.stop();
  assert.deepEqual(states().slice(-2), ['stopping', 'stopped']);
  assert.equal(agent.state, 'stopped');
});

test('an agent that refuses its entry (exit 78) is given up on, and that is reported', async (t) => {
  const { agent, changes, states } = await supervise(t, 'refuses');
  await waitFor(() => states().includes('gave-up'), { timeoutMs: 60_000, message: `gave-up reached: ${states().join(' → ')}` });
  assert.deepEqual(states(), ['gave-up']);
  assert.match(changes[0]!.failure ?? '', /^agent pid \d+ exited with code 78$/);
  assert.equal(changes[0]!.restartInMs, null);
  assert.equal(agent.restarts, 0);
});

test('an agent that says hello is running with its pid; stop goes through stopping to stopped and finished() resolves', async (t) => {
  const { agent, changes, states } = await supervise(t, 'idles');
  await waitFor(() => states().includes('running'), { timeoutMs: 60_000, message: `running reached: ${states().join(' → ')}` });
  const running = changes.find((c) => c.to === 'running')!;
  assert.equal(running.from, 'starting');
  assert.equal(typeof running.pid, 'number');
  assert.equal(running.pid, agent.pid);
  const finished = agent.finished();
  await agent.stop();
  await finished;
  assert.deepEqual(states(), ['running', 'stopping', 'stopped']);
  assert.equal(changes.at(-1)!.failure, null, 'a stop asked for is no failure');
});
