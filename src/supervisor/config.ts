// Environment → the supervisor's typed settings. Names and meanings of the original tool's
// variables (LISTING_PATH, SCRAPE_INTERVAL in ms) are kept so its users switch without edits.

import { isAbsolute, resolve } from 'node:path';
import { ConfigError, defaultsFromEnv } from '../shared/env-defaults.js';
import type { AgentDefaults } from '../shared/listing-schema.js';

export interface SupervisorConfig {
  listingPath: string;
  defaults: AgentDefaults;
  /** Delete a removed entry's published tree and state (per entry `prune` overrides). */
  prune: boolean;
  /** Re-read the listing this often even without a watcher event (a missed event costs at most this). */
  rereadMs: number;
}

function bool(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return false;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name}=${JSON.stringify(env[name])}: must be true or false`);
}

export function loadConfig(env: NodeJS.ProcessEnv): SupervisorConfig {
  const listing = env.LISTING_PATH?.trim();
  if (listing === undefined || listing === '') {
    throw new ConfigError('LISTING_PATH is not set: point it at the JSON listing of repos to sync (see example/listing.json)');
  }
  return {
    listingPath: isAbsolute(listing) ? listing : resolve(listing),
    defaults: defaultsFromEnv(env),
    prune: bool(env, 'PRUNE'),
    rereadMs: 30_000,
  };
}
