// Every message between the supervisor and a repo agent: one discriminated union per direction.
// The agent opens with `hello` carrying PROTOCOL_VERSION; a mismatch is treated like a crash.

import type { AgentDefaults } from './listing-schema.js';
import { SYNC_ERROR_KINDS, type SyncErrorKind } from './errors.js';

export const PROTOCOL_VERSION = 1;

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
  | { type: 'synced'; commit: string; previousCommit: string | null; durationMs: number; fetched: boolean }
  | { type: 'unchanged'; commit: string; durationMs: number }
  | { type: 'failed'; error: WireError; consecutiveFailures: number; retryInMs: number; durationMs: number }
  | { type: 'heartbeat'; at: number };

export type SyncReason = 'startup' | 'interval' | 'sync-now' | 'retry';

export type SupervisorMessage =
  /** The raw listing entry: the agent validates it itself, as it would on its own. */
  | { type: 'configure'; protocolVersion: number; index: number; entry: unknown; defaults: AgentDefaults }
  | { type: 'sync-now'; reason: string }
  | { type: 'shutdown' };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCommit = (v: unknown): v is string => isStr(v) && /^[0-9a-f]{40,64}$/.test(v);

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
      return isCommit(m.commit) && (m.previousCommit === null || isCommit(m.previousCommit)) && isNum(m.durationMs) && typeof m.fetched === 'boolean'
        ? { type: 'synced', commit: m.commit, previousCommit: m.previousCommit, durationMs: m.durationMs, fetched: m.fetched }
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
      return isNum(m.protocolVersion) && isNum(m.index) && isObject(m.defaults) && isNum(m.defaults.intervalMs)
        ? { type: 'configure', protocolVersion: m.protocolVersion, index: m.index, entry: m.entry, defaults: m.defaults as unknown as AgentDefaults }
        : null;
    case 'sync-now':
      return { type: 'sync-now', reason: isStr(m.reason) ? m.reason : 'unspecified' };
    case 'shutdown':
      return { type: 'shutdown' };
    default: {
      const _never: never = m.type;
      return null;
    }
  }
}
