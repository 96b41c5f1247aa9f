import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../src/shared/backoff.js';

test('backoff doubles from the base on each attempt', () => {
  const mid = () => 0.5;
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 1000, 300_000, mid)), [1000, 2000, 4000, 8000, 16_000]);
  assert.deepEqual([1, 2, 3].map((n) => backoffDelay(n, 250, 300_000, mid)), [250, 500, 1000]);
});

test('backoff jitter is ±20% of the delay', () => {
  assert.equal(backoffDelay(1, 1000, 300_000, () => 0), 800);
  assert.equal(backoffDelay(1, 1000, 300_000, () => 1), 1200);
  assert.equal(backoffDelay(3, 1000, 300_000, () => 0), 3200);
});

test('backoff never exceeds the cap, jitter included, however many attempts', () => {
  assert.equal(backoffDelay(9, 1000, 300_000, () => 0.5), 256_000);
  assert.equal(backoffDelay(10, 1000, 300_000, () => 0.5), 300_000);
  assert.equal(backoffDelay(10, 1000, 300_000, () => 1), 300_000);
  assert.equal(backoffDelay(10_000, 1000, 300_000, () => 1), 300_000);
  assert.equal(backoffDelay(40, 1000, 300_000, () => 0), 240_000);
});

test('an attempt number below 1 waits the base delay', () => {
  assert.equal(backoffDelay(0, 1000, 300_000, () => 0.5), 1000);
  assert.equal(backoffDelay(-3, 1000, 300_000, () => 0.5), 1000);
});
