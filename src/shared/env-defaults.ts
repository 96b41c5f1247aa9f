// Process-wide defaults from the environment, with the original tool's names and meanings:
// SCRAPE_INTERVAL is the poll interval in milliseconds.

import { isAbsolute, normalize } from 'node:path';
import { DEFAULTS, type AgentDefaults } from './listing-schema.js';
import { MAX_TIMER_MS, TIMER_LIMIT_REASON } from './timer-limit.js';

import { ConfigError } from './config-error.js';

export function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: must be a whole number of milliseconds, at least ${min}`);
  }
  if (value > MAX_TIMER_MS) throw new ConfigError(`${name}=${JSON.stringify(raw)}: ${TIMER_LIMIT_REASON}`);
  return value;
}

export function defaultsFromEnv(env: NodeJS.ProcessEnv): AgentDefaults {
  const syncRoot = env.SYNC_ROOT?.trim() || undefined;
  if (syncRoot !== undefined && (!isAbsolute(syncRoot) || normalize(syncRoot) !== syncRoot.replace(/(.)\/$/, '$1'))) {
    throw new ConfigError(`SYNC_ROOT=${JSON.stringify(syncRoot)}: must be an absolute, normalised path`);
  }
  return {
    intervalMs: intFromEnv(env, 'SCRAPE_INTERVAL', DEFAULTS.intervalMs, 100),
    timeoutMs: intFromEnv(env, 'GIT_TIMEOUT', DEFAULTS.timeoutMs, 1000),
    staleAfterMs: intFromEnv(env, 'STALE_AFTER', DEFAULTS.staleAfterMs, 0),
    depth: DEFAULTS.depth,
    syncRoot: syncRoot?.replace(/(.)\/$/, '$1'),
  };
}
