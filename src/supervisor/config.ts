// Environment and flags → the supervisor's typed settings. shared/settings.ts is the table of them
// (each variable has a flag of the same name, LISTING_PATH ↔ --listing-path; a flag wins). The
// original tool's variables keep their names and meanings (SCRAPE_INTERVAL in ms) so its users switch without edits.

import { constants } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../shared/config-error.js';
import { defaultsFromEnv, intFromEnv } from '../shared/env-defaults.js';
import type { AgentDefaults } from '../shared/listing-schema.js';
import { SETTINGS } from '../shared/settings.js';

export interface SupervisorConfig {
  listingPath: string;
  defaults: AgentDefaults;
  /** Delete a removed entry's published tree and state (per entry `prune` overrides). */
  prune: boolean;
  /** Sync every entry once, print a summary, exit 0 only if all succeeded. */
  oneTime: boolean;
  http: { host: string; port: number };
  logLevel: string;
  logFormat: 'json' | 'text';
  webhookSecretFile: string | undefined;
  syncTokenFile: string | undefined;
  /** Bearer token for GET /events and /git/{name}; unset: served only on the open bind, if any. */
  serveTokenFile: string | undefined;
  /** Serve each entry's published commit over smart HTTP (serve-git.ts). */
  serveGit: boolean;
  /** A second, tokenless server with only /git and /events. */
  serveOpenBind: { host: string; port: number } | undefined;
  /** A hub's /events to follow (follow.ts), and the token it takes. */
  follow: { url: URL; tokenFile: string | undefined } | undefined;
  /** Besides SIGHUP, a signal that makes every agent sync now. */
  syncOnSignal: NodeJS.Signals | undefined;
  /** An agent silent this long is killed and restarted. */
  heartbeatTimeoutMs: number;
  /** Entries of one remote in one folder fetch into one object store. */
  sharedStores: boolean;
  /** Re-read the listing this often even without a watcher event (a missed event costs at most this). */
  rereadMs: number;
}

/** Flags over the environment: the table in shared/settings.ts defines both. */
export { mergeFlags } from '../shared/settings.js';

/** A value of an `enum` setting of the table, or a ConfigError naming the variable. */
function oneOf(env: NodeJS.ProcessEnv, name: string): string {
  const setting = SETTINGS.find((s) => s.variable === name)!;
  const raw = env[name]?.trim() || setting.default!;
  if (!setting.values!.includes(raw)) throw new ConfigError(`${name}=${JSON.stringify(raw)}: must be one of ${setting.values!.join(', ')}`);
  return raw;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback = false): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name}=${JSON.stringify(env[name])}: must be true or false`);
}

function bindAddress(raw: string, name: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new ConfigError(`${name}=${JSON.stringify(raw)}: must be host:port, such as 0.0.0.0:8080 or [::1]:8080`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

const httpBind = (env: NodeJS.ProcessEnv) => bindAddress(env.HTTP_BIND?.trim() || '0.0.0.0:8080', 'HTTP_BIND');

function openBind(env: NodeJS.ProcessEnv): { host: string; port: number } | undefined {
  const raw = env.SERVE_OPEN_BIND?.trim();
  return raw === undefined || raw === '' ? undefined : bindAddress(raw, 'SERVE_OPEN_BIND');
}

function follow(env: NodeJS.ProcessEnv): SupervisorConfig['follow'] {
  const tokenFile = secretFile(env, 'FOLLOW_TOKEN_FILE');
  const raw = env.FOLLOW_EVENTS?.trim();
  if (raw === undefined || raw === '') return undefined;
  const bad = (why: string) => new ConfigError(`FOLLOW_EVENTS=${JSON.stringify(raw)}: ${why}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad("must be a hub's events URL, such as http://git-autosync-hub:8080/events");
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('must be an http:// or https:// URL');
  // The token comes from FOLLOW_TOKEN_FILE, never from the URL: the URL is logged and shown.
  if (url.username !== '' || url.password !== '') throw new ConfigError('FOLLOW_EVENTS: must not carry credentials; put the token in FOLLOW_TOKEN_FILE');
  if (!url.pathname.endsWith('/events')) throw bad("must end in /events (the hub's event stream)");
  return { url, tokenFile };
}

function secretFile(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  if (v === undefined || v === '') return undefined;
  if (!isAbsolute(v)) throw new ConfigError(`${name}=${JSON.stringify(v)}: must be an absolute path to a file holding the secret`);
  return v;
}

// Signals the daemon already gives a meaning to, or that cannot be caught.
const RESERVED_SIGNALS = new Set(['SIGTERM', 'SIGINT', 'SIGKILL', 'SIGSTOP', 'SIGCHLD']);

function signal(env: NodeJS.ProcessEnv, name: string): NodeJS.Signals | undefined {
  const v = env[name]?.trim().toUpperCase();
  if (v === undefined || v === '') return undefined;
  const sig = v.startsWith('SIG') ? v : `SIG${v}`;
  if (!(sig in constants.signals) || RESERVED_SIGNALS.has(sig)) {
    throw new ConfigError(`${name}=${JSON.stringify(env[name])}: must name a signal such as SIGUSR1 (not SIGTERM, SIGINT, SIGKILL, SIGSTOP or SIGCHLD)`);
  }
  return sig as NodeJS.Signals;
}

export function loadConfig(env: NodeJS.ProcessEnv): SupervisorConfig {
  const listing = env.LISTING_PATH?.trim();
  if (listing === undefined || listing === '') {
    throw new ConfigError('LISTING_PATH is not set: point it at the JSON listing of repos to sync (see example/listing.json)');
  }
  const logLevel = oneOf(env, 'LOG_LEVEL');
  const logFormat = oneOf(env, 'LOG_FORMAT') as 'json' | 'text';
  const serveTokenFile = secretFile(env, 'SERVE_TOKEN_FILE');
  const serveGit = bool(env, 'SERVE_GIT');
  const serveOpenBind = openBind(env);
  // Serving repositories to anyone who can reach the port must be asked for in so many words.
  if (serveGit && serveTokenFile === undefined && serveOpenBind === undefined) {
    throw new ConfigError('SERVE_GIT=true needs SERVE_TOKEN_FILE (the token spokes present), or SERVE_OPEN_BIND to serve without a token on a separate address');
  }
  return {
    listingPath: isAbsolute(listing) ? listing : resolve(listing),
    // Read by each agent on every attempt (repo-agent/credentials.ts), so an edit applies at once.
    defaults: { ...defaultsFromEnv(env), credentialsFile: secretFile(env, 'CREDENTIALS_FILE') },
    prune: bool(env, 'PRUNE'),
    oneTime: bool(env, 'ONE_TIME'),
    http: httpBind(env),
    logLevel,
    logFormat,
    heartbeatTimeoutMs: intFromEnv(env, 'HEARTBEAT_TIMEOUT', 30_000, 1000),
    webhookSecretFile: secretFile(env, 'WEBHOOK_SECRET_FILE'),
    syncTokenFile: secretFile(env, 'SYNC_TOKEN_FILE'),
    serveTokenFile,
    serveGit,
    serveOpenBind,
    follow: follow(env),
    syncOnSignal: signal(env, 'SYNC_ON_SIGNAL'),
    sharedStores: bool(env, 'SHARED_STORES', true),
    rereadMs: 30_000,
  };
}
