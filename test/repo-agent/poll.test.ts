import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextDelay, RETRY_CAP_MS, waitFrom } from '../../src/repo-agent/poll.js';

test('after a success the next poll never waits longer than the interval', () => {
  assert.equal(nextDelay(0, 1000, () => 0), 1000);
  assert.equal(nextDelay(0, 1000, () => 0.999999), 900);
});

test('failures back off exponentially from 1 s to a 5 min cap, with jitter', () => {
  const mid = () => 0.5;
  assert.deepEqual([1, 2, 3, 4].map((n) => nextDelay(n, 60_000, mid)), [1000, 2000, 4000, 8000]);
  assert.equal(nextDelay(30, 60_000, mid), RETRY_CAP_MS);
  assert.equal(nextDelay(30, 60_000, () => 1), RETRY_CAP_MS);
  assert.equal(nextDelay(1, 60_000, () => 0), 800);
});

test('the wait counts from the start of the last sync', () => {
  assert.equal(waitFrom(1000, 500, 1200), 300);
  assert.equal(waitFrom(1000, 500, 2000), 0);
});
