// The soak of bench/soak.ts (`npm run soak`: 50 repos, 10 minutes), short enough for every test
// run: the same code, five repos pushed to 20 times each, about once a second.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MEMORY_CRITERIA, pushesPerRepo, pushToPublishMs, pushWindowMs, report, runSoak, slopePerMinute, thresholds } from '../../bench/soak.js';
import { SLOWDOWN } from '../support/tmp.js';

test('5 repos pushed to 20 times each, about once a second: every repo ends on its remote head, no torn read, no missing file, no restart', async (t) => {
  const began = Date.now();
  const result = await runSoak(t, {
    repos: 5,
    durationMs: 20_000,
    intervalMs: 200,
    meanPushMs: 1000,
    sampleMs: 2000,
    convergeTimeoutMs: 20_000,
    seed: 7,
    slowdown: SLOWDOWN,
    progress: (line) => t.diagnostic(`[${((Date.now() - began) / 1000).toFixed(1)} s] ${line}`),
  });
  for (const line of report(result).split('\n')) t.diagnostic(line);
  t.diagnostic(`run done after ${((Date.now() - began) / 1000).toFixed(1)} s`);
  // The criteria bench/soak.ts prints, with the same numbers, all but the memory trend: 20 s has
  // too few samples after warm-up for one (`npm run soak` judges it over 10 minutes).
  const judged = result.criteria.filter((c) => !(MEMORY_CRITERIA as readonly string[]).includes(c.name));
  assert.equal(judged.length, result.criteria.length - MEMORY_CRITERIA.length);
  for (const c of judged) assert.ok(c.pass, `${c.name}: observed ${c.observed}, target ${c.target}; daemon problems: ${JSON.stringify(result.figures.logProblems)}`);
});

test('the short soak is held to 100 pushes and 20 distinct commits on a quiet machine, the long one to its own share', () => {
  // A fixed count of pushes (20 per repo here), made however long they take within the push
  // window: a machine that pushes slowly pushes later, not less (a count of what fitted in 20 s
  // once failed 11 of 12 under load).
  assert.deepEqual(thresholds({ repos: 5, durationMs: 20_000, meanPushMs: 1000 }), { minPushes: 100, minDistinct: 20, minReads: 1000 });
  assert.deepEqual(thresholds({ repos: 50, durationMs: 600_000, meanPushMs: 20_000 }), { minPushes: 1500, minDistinct: 300, minReads: 30_000 });
  // A machine four times slower makes every push, and is given four times longer to make them;
  // its daemon publishes several pushes at once, so it is held to fewer distinct commits and reads.
  assert.deepEqual(thresholds({ repos: 5, durationMs: 20_000, meanPushMs: 1000, slowdown: 4 }), { minPushes: 100, minDistinct: 5, minReads: 250 });
  assert.equal(pushWindowMs({ durationMs: 20_000, slowdown: 4 }), 320_000);
  assert.equal(pushesPerRepo({ durationMs: 600_000, meanPushMs: 20_000 }), 30);
});

test('the memory slope is a least-squares fit in units per minute', () => {
  assert.equal(slopePerMinute([]), null);
  assert.equal(slopePerMinute([{ atS: 5, value: 1 }]), null);
  assert.equal(slopePerMinute([{ atS: 0, value: 100 }, { atS: 60, value: 160 }, { atS: 120, value: 220 }]), 60);
  // A sawtooth around a flat line has no slope.
  const saw = Array.from({ length: 20 }, (_, i) => ({ atS: i * 10, value: 1000 + (i % 2 === 0 ? 50 : -50) }));
  assert.ok(Math.abs(slopePerMinute(saw)!) < 20);
});

test('a push counts as seen when its commit or a later one of the same repo is published', () => {
  const pushes = [
    { repo: 'a', seq: 1, commit: 'c1', atMs: 1000 },
    { repo: 'a', seq: 2, commit: 'c2', atMs: 1100 },
    { repo: 'a', seq: 3, commit: 'c3', atMs: 5000 },
    { repo: 'b', seq: 1, commit: 'd1', atMs: 1000 },
  ];
  // c1 was overtaken before the agent polled; c3 was never published.
  const publishes = [
    { repo: 'a', commit: 'c0', atMs: 500 },
    { repo: 'a', commit: 'c2', atMs: 1300 },
    { repo: 'b', commit: 'd1', atMs: 1250 },
  ];
  assert.deepEqual(pushToPublishMs(pushes, publishes), [300, 200, null, 250]);
});
