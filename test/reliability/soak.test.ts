// The soak of bench/soak.ts (`npm run soak`: 50 repos, 10 minutes), short enough for every test
// run: the same code, five repos pushed to about once a second for 20 seconds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pushToPublishMs, report, runSoak, slopePerMinute } from '../../bench/soak.js';

test('5 repos pushed to for 20 s: every repo ends on its remote head, no torn read, no missing file, no restart', async (t) => {
  const began = Date.now();
  const result = await runSoak(t, {
    repos: 5,
    durationMs: 20_000,
    intervalMs: 200,
    meanPushMs: 1000,
    sampleMs: 2000,
    convergeTimeoutMs: 20_000,
    seed: 7,
    progress: (line) => t.diagnostic(`[${((Date.now() - began) / 1000).toFixed(1)} s] ${line}`),
  });
  for (const line of report(result).split('\n')) t.diagnostic(line);
  t.diagnostic(`run done after ${((Date.now() - began) / 1000).toFixed(1)} s`);
  const f = result.figures;
  assert.equal(f.reposConverged, 5, `repos on their remote head: ${JSON.stringify(f.notConverged)}`);
  assert.equal(f.reader.mismatches, 0, `torn reads: ${JSON.stringify(f.reader.examples)}`);
  assert.equal(f.reader.missing, 0, `missing files: ${JSON.stringify(f.reader.examples)}`);
  assert.equal(f.restarts, 0, `agent restarts; daemon problems: ${JSON.stringify(f.logProblems)}`);
  assert.ok(f.reader.reads > 1000, `the checker read throughout (${f.reader.reads} reads)`);
  assert.ok(f.reader.minReadsPerPath > 0, 'the checker read every repo');
  // About 70 are expected (a wait of 1 s on average, then the push itself); far fewer would mean
  // the pushing, not the daemon, was what this run measured.
  assert.ok(f.pushes >= 40, `pushes made: ${f.pushes}`);
  assert.ok(f.reader.distinctValues > 20, `the checker saw many commits come and go (${f.reader.distinctValues})`);
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
