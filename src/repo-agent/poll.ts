// When to sync next: pure functions, so the schedule is tested without processes or clocks.

import { backoffDelay } from '../shared/backoff.js';

export const RETRY_BASE_MS = 1_000;
export const RETRY_CAP_MS = 5 * 60_000;

/**
 * Delay before the next attempt. After a success: the interval, shortened by up to 10% so agents
 * started together drift apart without ever waiting longer than asked. After failures:
 * exponential backoff from 1 s doubling to 5 min, with ±20% jitter (so many agents failing
 * together do not retry together).
 */
export function nextDelay(consecutiveFailures: number, intervalMs: number, random: () => number = Math.random): number {
  if (consecutiveFailures <= 0) return Math.round(intervalMs * (1 - 0.1 * random()));
  return backoffDelay(consecutiveFailures, RETRY_BASE_MS, RETRY_CAP_MS, random);
}

/** Time from `now` until the next sync should start, counting from the start of the last one. */
export function waitFrom(lastStartMs: number, delayMs: number, nowMs: number): number {
  return Math.max(0, lastStartMs + delayMs - nowMs);
}
