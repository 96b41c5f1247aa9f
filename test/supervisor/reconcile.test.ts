import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconcile } from '../../src/supervisor/reconcile.js';
import { restartDelay } from '../../src/supervisor/supervision.js';

const d = (name: string, fingerprint = name) => ({ entry: { name }, fingerprint });

test('new entries start, removed ones stop, changed ones restart, unchanged ones are left alone', () => {
  const actions = reconcile([d('a'), d('b', 'b2'), d('c')], [{ name: 'a', fingerprint: 'a' }, { name: 'b', fingerprint: 'b' }, { name: 'x', fingerprint: 'x' }]);
  assert.deepEqual(
    actions.map((a) => `${a.kind}:${a.kind === 'stop' ? a.name : a.desired.entry.name}`).sort(),
    ['restart:b', 'start:c', 'stop:x'],
  );
});

test('an empty listing stops everything; nothing running starts everything', () => {
  assert.deepEqual(reconcile([], [{ name: 'a', fingerprint: 'a' }]), [{ kind: 'stop', name: 'a' }]);
  assert.equal(reconcile([d('a'), d('b')], []).length, 2);
});

test('restart backoff doubles from 1 s to the 5 min cap with jitter', () => {
  const policy = { baseMs: 1000, capMs: 300_000 };
  assert.deepEqual([1, 2, 3].map((n) => restartDelay(n, policy, () => 0.5)), [1000, 2000, 4000]);
  assert.equal(restartDelay(40, policy, () => 1), 300_000);
  assert.equal(restartDelay(1, policy, () => 0), 800);
});

test('restart intensity: more than maxRestarts within the period waits the full cap; a stable run starts backoff over', async () => {
  const { DEFAULT_POLICY, planRestart } = await import('../../src/supervisor/supervision.js');
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
