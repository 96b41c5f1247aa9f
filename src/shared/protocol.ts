// Every message between the supervisor and a repo agent: one discriminated union per direction.
// The agent opens with `hello` carrying PROTOCOL_VERSION; a mismatch is treated like a crash.

import { parseCredentialList } from './credential-scope.js';
import { SYNC_ERROR_KINDS, type SyncErrorKind } from './errors.js';
import type { GithubAppRef, ResolvedEntry } from './listing-schema.js';
import { LOG_LEVELS, type LogFields, type LogLevel } from './log.js';
import { isObjectId } from './object-id.js';
import {
  absolutePathProblem,
  BOUNDS,
  FILE_MODES,
  FILTER_PATTERN,
  GC_MODES,
  GITHUB_CLIENT_ID_PATTERN,
  GITHUB_ID_PATTERN,
  inBounds,
  isHookArg,
  NAME_PATTERN,
  PUBLISH_MODES,
  serviceUrlProblem,
  sparseDirProblem,
  SUBMODULE_MODES,
  webhookUrlProblem,
  WEBHOOK_METHODS,
} from './entry-fields.js';
import { checkGitConfig, checkRefName, checkRemoteUrl, SSH_HOST_PATTERN, TRANSPORTS } from './ref-and-url.js';
import { STORES_DIR } from './layout.js';

// 5: `progress` messages while a fetch runs.
export const PROTOCOL_VERSION = 5;

/** Exit status an agent uses for an entry it refuses: restarting it would not help. */
export const EXIT_CONFIG = 78;

export interface WireError {
  kind: SyncErrorKind;
  /** Already redacted. */
  message: string;
}

export type AgentMessage =
  | { type: 'hello'; protocolVersion: number; pid: number }
  /** The agent has looked at its local state; publishedCommit is what readers see now (adopted or null). */
  | { type: 'ready'; publishedCommit: string | null }
  | { type: 'sync-started'; reason: SyncReason }
  | { type: 'synced'; commit: string; previousCommit: string | null; durationMs: number; fetched: boolean; kept: string[] }
  | { type: 'unchanged'; commit: string; durationMs: number }
  | { type: 'failed'; error: WireError; consecutiveFailures: number; retryInMs: number; durationMs: number }
  | { type: 'heartbeat'; at: number }
  /** How far the fetch under way is (git's --progress, at most once a second); numbers and a closed phase only. */
  | { type: 'progress'; progress: FetchProgress }
  /** An after-publish hook ran (exec, webhook) or a pre-publish hook vetoed a commit. */
  | { type: 'hook'; hook: HookName; ok: boolean; commit: string; durationMs: number; message: string }
  /** A log line for the supervisor to write (with the repo's name), so the daemon has one writer. */
  | { type: 'log'; level: LogLevel; message: string; fields: LogFields }
  /**
   * The files holding a minted credential (a GitHub App installation token) for this attempt.
   * staleGeneration: the grant git was refused with, to be replaced by a fresh one.
   */
  | { type: 'credential-request'; id: number; staleGeneration: number | null };

/** Where a minted credential is, for git's helper to read; never the secret itself. */
export interface CredentialGrant {
  usernameFile: string;
  passwordFile: string;
  /** Increases with every token minted for this installation. */
  generation: number;
}

/**
 * git's progress phases during a fetch: the remote counts and compresses objects, we receive
 * them and resolve deltas. Nothing but this word and two numbers ever leaves git's stderr.
 */
export const FETCH_PHASES = ['counting', 'compressing', 'receiving', 'resolving'] as const;
export type FetchPhase = (typeof FETCH_PHASES)[number];

export interface FetchProgress {
  phase: FetchPhase;
  /** 0–100; null while git counts without a total (`Enumerating objects: 1234`). */
  percent: number | null;
  /** Bytes received so far by this fetch; null until git has said. */
  bytes: number | null;
}

export const HOOK_NAMES = ['exec', 'webhook', 'pre-publish', 'touch'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** continuous: poll until told to stop. once: one sync, report it, exit (0 on success). */
export type AgentMode = 'continuous' | 'once';

export type SyncReason = 'startup' | 'interval' | 'sync-now' | 'retry';

export type SupervisorMessage =
  /** The entry, validated and resolved by the supervisor; the agent narrows it again on arrival. */
  | { type: 'configure'; protocolVersion: number; entry: ResolvedEntry; mode: AgentMode; heartbeatMs: number }
  | { type: 'sync-now'; reason: string }
  | { type: 'shutdown' }
  /** The answer to a credential-request: a grant, or why there is none. */
  | { type: 'credential'; id: number; grant: CredentialGrant | null; error: WireError | null };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCommit = (v: unknown): v is string => isStr(v) && isObjectId(v);

/** Narrow a progress report: a known phase, a percent in 0–100, a whole byte count. */
export function parseFetchProgress(v: unknown): FetchProgress | null {
  if (!isObject(v) || !(FETCH_PHASES as readonly unknown[]).includes(v.phase)) return null;
  const percentOk = v.percent === null || (isNum(v.percent) && v.percent >= 0 && v.percent <= 100);
  const bytesOk = v.bytes === null || (isPosInt(v.bytes) && v.bytes <= Number.MAX_SAFE_INTEGER);
  return percentOk && bytesOk ? { phase: v.phase as FetchPhase, percent: v.percent as number | null, bytes: v.bytes as number | null } : null;
}

/** Narrow what arrived from an agent; null for anything malformed. */
export function parseAgentMessage(raw: unknown): AgentMessage | null {
  if (!isObject(raw) || !isStr(raw.type)) return null;
  const m = raw as Record<string, unknown> & { type: AgentMessage['type'] };
  switch (m.type) {
    case 'hello':
      return isNum(m.protocolVersion) && isNum(m.pid) ? { type: 'hello', protocolVersion: m.protocolVersion, pid: m.pid } : null;
    case 'ready':
      return m.publishedCommit === null || isCommit(m.publishedCommit) ? { type: 'ready', publishedCommit: m.publishedCommit } : null;
    case 'sync-started':
      return isStr(m.reason) ? { type: 'sync-started', reason: m.reason as SyncReason } : null;
    case 'synced':
      return isCommit(m.commit) &&
        (m.previousCommit === null || isCommit(m.previousCommit)) &&
        isNum(m.durationMs) &&
        typeof m.fetched === 'boolean' &&
        Array.isArray(m.kept) &&
        m.kept.every(isCommit)
        ? { type: 'synced', commit: m.commit, previousCommit: m.previousCommit, durationMs: m.durationMs, fetched: m.fetched, kept: m.kept }
        : null;
    case 'unchanged':
      return isCommit(m.commit) && isNum(m.durationMs) ? { type: 'unchanged', commit: m.commit, durationMs: m.durationMs } : null;
    case 'failed': {
      const e = m.error;
      if (!isObject(e) || !isStr(e.message) || !(SYNC_ERROR_KINDS as readonly unknown[]).includes(e.kind)) return null;
      return isNum(m.consecutiveFailures) && isNum(m.retryInMs) && isNum(m.durationMs)
        ? {
            type: 'failed',
            error: { kind: e.kind as SyncErrorKind, message: e.message },
            consecutiveFailures: m.consecutiveFailures,
            retryInMs: m.retryInMs,
            durationMs: m.durationMs,
          }
        : null;
    }
    case 'heartbeat':
      return isNum(m.at) ? { type: 'heartbeat', at: m.at } : null;
    case 'progress': {
      const progress = parseFetchProgress(m.progress);
      return progress === null ? null : { type: 'progress', progress };
    }
    case 'hook':
      return (HOOK_NAMES as readonly unknown[]).includes(m.hook) && typeof m.ok === 'boolean' && isCommit(m.commit) && isNum(m.durationMs) && isStr(m.message)
        ? { type: 'hook', hook: m.hook as HookName, ok: m.ok, commit: m.commit, durationMs: m.durationMs, message: m.message }
        : null;
    case 'log':
      return (LOG_LEVELS as readonly unknown[]).includes(m.level) && isStr(m.message) && isObject(m.fields)
        ? { type: 'log', level: m.level as LogLevel, message: m.message, fields: m.fields }
        : null;
    case 'credential-request':
      return isPosInt(m.id) && (m.staleGeneration === null || isPosInt(m.staleGeneration))
        ? { type: 'credential-request', id: m.id, staleGeneration: m.staleGeneration }
        : null;
    default: {
      const _never: never = m.type;
      return null;
    }
  }
}

/** Narrow what arrived from the supervisor. */
export function parseSupervisorMessage(raw: unknown): SupervisorMessage | null {
  if (!isObject(raw) || !isStr(raw.type)) return null;
  const m = raw as Record<string, unknown> & { type: SupervisorMessage['type'] };
  switch (m.type) {
    case 'configure':
    {
      const entry = parseResolvedEntry(m.entry);
      const mode = m.mode === 'once' ? 'once' : m.mode === 'continuous' ? 'continuous' : null;
      return isNum(m.protocolVersion) && entry !== null && mode !== null && isPosInt(m.heartbeatMs) && m.heartbeatMs > 0
        ? { type: 'configure', protocolVersion: m.protocolVersion, entry, mode, heartbeatMs: m.heartbeatMs }
        : null;
    }
    case 'sync-now':
      return { type: 'sync-now', reason: isStr(m.reason) ? m.reason : 'unspecified' };
    case 'shutdown':
      return { type: 'shutdown' };
    case 'credential': {
      const g = m.grant;
      const e = m.error;
      const grant = isObject(g) && isStr(g.usernameFile) && g.usernameFile.startsWith('/') && isStr(g.passwordFile) && g.passwordFile.startsWith('/') && isPosInt(g.generation)
        ? { usernameFile: g.usernameFile, passwordFile: g.passwordFile, generation: g.generation }
        : null;
      const error = isObject(e) && isStr(e.message) && (SYNC_ERROR_KINDS as readonly unknown[]).includes(e.kind) ? { kind: e.kind as SyncErrorKind, message: e.message } : null;
      return isPosInt(m.id) && (grant === null) !== (error === null) ? { type: 'credential', id: m.id, grant, error } : null;
    }
    default: {
      const _never: never = m.type;
      return null;
    }
  }
}

/** A store beside the entry's own folder (see supervisor/stores.ts), with a URL git may use. */
function isStore(v: unknown, path: unknown): boolean {
  if (!isObject(v) || !isStr(v.dir) || !isStr(v.url) || !isStr(path)) return false;
  const parent = path.slice(0, path.lastIndexOf('/')) || '/';
  const rest = v.dir.startsWith(parent) ? v.dir.slice(parent.length).replace(/^\//, '') : null;
  return rest !== null && rest.startsWith(`${STORES_DIR}/`) && /^[A-Za-z0-9._-]+\.git$/.test(rest.slice(STORES_DIR.length + 1)) && !rest.includes('..') && !('reason' in checkRemoteUrl(v.url));
}

/** The listing's scoped credentials, checked again as the schema did, with scopes already normalised. */
function isScopedList(v: unknown): boolean {
  const parsed = parseCredentialList(v, 'credentials');
  return 'list' in parsed && parsed.list.every((c, i) => c.url === (v as Array<{ url: unknown }>)[i]!.url);
}

const isPosInt = (v: unknown): v is number => isNum(v) && Number.isInteger(v) && v >= 0;
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const oneOf = (values: readonly string[]) => (v: unknown) => isStr(v) && values.includes(v);
const optional = (check: (v: unknown) => boolean) => (v: unknown) => v === undefined || check(v);
const nullable = (check: (v: unknown) => boolean) => (v: unknown) => v === null || check(v);
const isPath = (v: unknown): v is string => isStr(v) && absolutePathProblem('path', v) === null;
const ms = (bounds: readonly [number, number]) => (v: unknown) => inBounds(v, bounds);
const listOf = (bounds: readonly [number, number], item: (v: unknown) => boolean) => (v: unknown) => Array.isArray(v) && v.length >= bounds[0] && v.length <= bounds[1] && v.every(item);

/** Each field's check; the keys are exactly the type's, so a field cannot be left unchecked and an unknown one is refused. */
type Checks<T> = { readonly [K in keyof T]-?: (v: unknown, all: Record<string, unknown>) => boolean };

/** An object with only `checks`' keys, each passing its check. */
function matches<T>(v: unknown, checks: Checks<T>): boolean {
  if (!isObject(v) || Array.isArray(v)) return false;
  const all = v;
  return Object.keys(v).every((k) => Object.hasOwn(checks, k)) && Object.entries(checks).every(([k, check]) => (check as Checks<T>[keyof T])(all[k], all));
}

const COMMAND_HOOK: Checks<{ command: string[]; timeoutMs: number }> = { command: listOf(BOUNDS.hookArgs, isHookArg), timeoutMs: ms(BOUNDS.hookTimeoutMs) };
const HOOKS: Checks<ResolvedEntry['hooks']> = {
  webhook: optional((w) => matches(w, { url: (u) => isStr(u) && webhookUrlProblem(u) === null, method: oneOf(WEBHOOK_METHODS), timeoutMs: ms(BOUNDS.webhookTimeoutMs) })),
  exec: optional((h) => matches(h, COMMAND_HOOK)),
  prePublish: optional((h) => matches(h, COMMAND_HOOK)),
  touchFile: optional(isPath),
};
const GITHUB_APP: Checks<GithubAppRef> = {
  issuer: (v) => isStr(v) && GITHUB_CLIENT_ID_PATTERN.test(v),
  issuerField: oneOf(['appId', 'clientId']),
  installationId: (v) => isStr(v) && GITHUB_ID_PATTERN.test(v),
  privateKeyFile: isPath,
  apiUrl: (v) => isStr(v) && serviceUrlProblem('apiUrl', v) === null && !v.endsWith('/'),
};
const CREDENTIALS: Checks<ResolvedEntry['credentials']> = {
  sshKeyFile: optional(isPath),
  knownHostsFile: optional(isPath),
  usernameFile: optional(isPath),
  passwordFile: optional(isPath),
  githubApp: optional((v) => matches(v, GITHUB_APP)),
  askpassUrl: optional((v) => isStr(v) && serviceUrlProblem('askpassUrl', v) === null),
  sshKeys: optional(listOf(BOUNDS.sshKeys, (k) => matches(k, { host: (h) => isStr(h) && SSH_HOST_PATTERN.test(h), keyFile: isPath }))),
  scoped: isScopedList,
};
const ENTRY: Checks<ResolvedEntry> = {
  name: (v) => isStr(v) && NAME_PATTERN.test(v),
  path: (v) => isPath(v) && v !== '/',
  // The URL is checked again here (the agent trusts nothing unchecked with git), and its transport with it.
  repo: (v, e) => {
    if (!isStr(v)) return false;
    const r = checkRemoteUrl(v);
    return !('reason' in r) && r.url === v && r.transport === e.transport;
  },
  transport: oneOf(TRANSPORTS),
  ref: nullable((v) => isStr(v) && checkRefName(v) === null),
  intervalMs: ms(BOUNDS.interval),
  depth: (v) => inBounds(v, BOUNDS.depth),
  publish: oneOf(PUBLISH_MODES),
  timeoutMs: ms(BOUNDS.timeout),
  staleAfterMs: ms(BOUNDS.staleAfter),
  submodules: oneOf(SUBMODULE_MODES),
  sparse: nullable(listOf(BOUNDS.sparse, (d) => isStr(d) && sparseDirProblem(d) === null)),
  filter: nullable((v) => isStr(v) && FILTER_PATTERN.test(v)),
  keep: (v) => inBounds(v, BOUNDS.keep),
  gc: oneOf(GC_MODES),
  fileMode: oneOf(FILE_MODES),
  gitConfig: listOf(BOUNDS.gitConfig, (kv) => isStr(kv) && checkGitConfig(kv) === null),
  hooks: (v) => matches(v, HOOKS),
  required: isBool,
  maxStalenessMs: nullable(ms(BOUNDS.maxStaleness)),
  prune: optional(isBool),
  syncRoot: optional(isPath),
  credentials: (v) => matches(v, CREDENTIALS),
  credentialsFile: optional(isPath),
  store: (v, e) => v === null || isStore(v, e.path),
};

/**
 * Narrow a resolved entry from the supervisor without the schema library (agents stay small),
 * applying entry-fields.ts's rules as the listing schema does; an unknown field is refused.
 */
export function parseResolvedEntry(raw: unknown): ResolvedEntry | null {
  return matches(raw, ENTRY) ? (raw as ResolvedEntry) : null;
}
