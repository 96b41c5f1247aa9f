// Every message between the supervisor and a repo agent: one discriminated union per direction.
// The agent opens with `hello` carrying PROTOCOL_VERSION; a mismatch is treated like a crash.

import { SYNC_ERROR_KINDS, type SyncErrorKind } from './errors.js';
import type { ResolvedEntry } from './listing-schema.js';
import { LOG_LEVELS, type LogFields, type LogLevel } from './log.js';
import { isObjectId } from './object-id.js';
import { parseResolvedEntry } from './entry-fields.js';

// 5: `progress` messages while a fetch runs, `unverified` failures carry the commit, and
// synced/unchanged carry the tag a semver ref resolved to. 6: `hold` (group members).
export const PROTOCOL_VERSION = 6;

/** Exit status an agent uses for an entry it refuses: restarting it would not help. */
export const EXIT_CONFIG = 78;

export interface WireError {
  kind: SyncErrorKind;
  /** Already redacted. */
  message: string;
  /** The commit refused, for kinds that refuse one (`unverified`). */
  commit?: string;
}

export type AgentMessage =
  | { type: 'hello'; protocolVersion: number; pid: number }
  /** The agent has looked at its local state; publishedCommit is what readers see now (adopted or null). */
  | { type: 'ready'; publishedCommit: string | null }
  | { type: 'sync-started'; reason: SyncReason }
  | { type: 'synced'; commit: string; previousCommit: string | null; durationMs: number; fetched: boolean; kept: string[]; tag?: ResolvedTag }
  | { type: 'unchanged'; commit: string; durationMs: number; tag?: ResolvedTag }
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

/** The tag a semver ref resolved to, and its version. */
export interface ResolvedTag {
  name: string;
  version: string;
}

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
  /** A group member's commits whose trees a generation still links: keep them past staleAfter (supervisor/groups.ts). */
  | { type: 'hold'; commits: string[] }
  /** The answer to a credential-request: a grant, or why there is none. */
  | { type: 'credential'; id: number; grant: CredentialGrant | null; error: WireError | null };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCommit = (v: unknown): v is string => isStr(v) && isObjectId(v);
const isPosInt = (v: unknown): v is number => isNum(v) && Number.isInteger(v) && v >= 0;
const isTagOrNone = (v: unknown): boolean => v === undefined || (isObject(v) && isStr(v.name) && v.name.length <= 255 && isStr(v.version) && v.version.length <= 255);
const tagOf = (v: unknown): { tag?: ResolvedTag } => (v === undefined ? {} : { tag: { name: (v as ResolvedTag).name, version: (v as ResolvedTag).version } });

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
        m.kept.every(isCommit) &&
        isTagOrNone(m.tag)
        ? { type: 'synced', commit: m.commit, previousCommit: m.previousCommit, durationMs: m.durationMs, fetched: m.fetched, kept: m.kept, ...tagOf(m.tag) }
        : null;
    case 'unchanged':
      return isCommit(m.commit) && isNum(m.durationMs) && isTagOrNone(m.tag) ? { type: 'unchanged', commit: m.commit, durationMs: m.durationMs, ...tagOf(m.tag) } : null;
    case 'failed': {
      const e = m.error;
      if (!isObject(e) || !isStr(e.message) || !(SYNC_ERROR_KINDS as readonly unknown[]).includes(e.kind)) return null;
      if (e.commit !== undefined && !isCommit(e.commit)) return null;
      return isNum(m.consecutiveFailures) && isNum(m.retryInMs) && isNum(m.durationMs)
        ? {
            type: 'failed',
            error: { kind: e.kind as SyncErrorKind, message: e.message, ...(e.commit === undefined ? {} : { commit: e.commit }) },
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
    case 'hold':
      // A group has a handful of members and generations: a long list is not a hold.
      return Array.isArray(m.commits) && m.commits.length <= 1024 && m.commits.every(isCommit) ? { type: 'hold', commits: [...m.commits] } : null;
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

export { parseResolvedEntry };
