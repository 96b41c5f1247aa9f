// The longest wait a Node timer can hold. setTimeout clamps anything longer to 1 ms (printing
// TimeoutOverflowWarning): SCRAPE_INTERVAL=2592000000 (30 days) made each entry poll ~17 times a
// second (#12 item 10). Every setting and listing field that becomes a timer is refused above it.

export const MAX_TIMER_MS = 2_147_483_647;

/** The reason a timer value is refused (above MAX_TIMER_MS), for messages naming the field. */
export const TIMER_LIMIT_REASON = `must be at most ${MAX_TIMER_MS} ms (about 24.8 days; a longer timer fires at once in Node)`;
