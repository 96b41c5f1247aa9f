// Bounded concurrency for set-up work (creating hundreds of repositories without hundreds of git
// processes at once).

/** Runs `fn` over 0..count-1 with at most `limit` calls in flight. */
export async function forEachLimited(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) await fn(i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}
