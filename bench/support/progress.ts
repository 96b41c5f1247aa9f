// What every bench prints while it runs, and the check that it runs on a fresh build.

import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** A line printer to stderr, each line stamped with the seconds since this call. */
export function progressPrinter(): (what: string) => void {
  const startedAt = performance.now();
  return (what) => process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${what}\n`);
}

/** The daemon runs from dist/: refuse to measure without it. */
export function requireBuilt(cli: string): void {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first`);
}
