// Exponential backoff with jitter, the one formula both sides use: an agent between failed syncs
// (repo-agent/poll.ts) and the supervisor between restarts of a crashed agent (supervision.ts).

/**
 * Delay before attempt number `attempt` (1-based) after failures: `baseMs` doubling up to
 * `capMs`, with ±20% jitter so that many agents failing together do not retry together, and
 * never more than the cap.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  // The exponent stops at 20: 2 ** 20 s is far past any cap, and larger powers only overflow.
  const exp = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  return Math.round(Math.min(capMs, exp * (0.8 + 0.4 * random())));
}
