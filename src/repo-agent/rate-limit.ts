// A host that asks us to slow down (HTTP 429, or 503 with Retry-After) is obeyed: the entry waits
// as long as it says, not its own backoff, and asks nothing else meanwhile (no ls-remote fallback,
// no webhook-triggered sync). GitHub, GitLab and CodeCommit all answer this way under load.

import { SyncError } from '../shared/errors.js';

/** Retry-After beyond this is taken as this: a bogus header must not park an entry for days. */
export const RETRY_AFTER_CAP_MS = 60 * 60_000;
/** And never sooner than this: "Retry-After: 0" from a host that just refused us is not "now". */
export const RETRY_AFTER_FLOOR_MS = 1_000;

/**
 * Milliseconds a Retry-After header asks for (delta-seconds or an HTTP-date, RFC 9110 §10.2.3),
 * within the floor and cap above; null when there is no header or it says neither.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    // An HTTP-date names its day and month ("Wed, 02 Dec 2026 10:00:30 GMT"); Date.parse alone
    // would also take "-5" as a year.
    if (!/^[A-Za-z]{3}, /.test(text)) return null;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    ms = at - nowMs;
  }
  return Math.min(RETRY_AFTER_CAP_MS, Math.max(RETRY_AFTER_FLOOR_MS, ms));
}

export interface RateLimit {
  status: number;
  /** What Retry-After asked for; null: the host said no time, the entry's own backoff applies. */
  retryAfterMs: number | null;
}

export class RateLimitedError extends SyncError {
  constructor(
    where: string,
    readonly limit: RateLimit,
  ) {
    const wait = limit.retryAfterMs === null ? 'without Retry-After; backing off' : `Retry-After ${Math.round(limit.retryAfterMs / 1000)}s`;
    super('rate-limited', `${where} answered HTTP ${limit.status} (${wait})`);
  }
}
