// Per-repo status as the operations surface shows it, folded from agent messages and supervision
// events by pure functions (easy to test, no clocks or processes inside).

import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { SyncErrorKind } from '../shared/errors.js';
import type { AgentMessage, FetchProgress, HookName, WireError } from '../shared/protocol.js';
import { displayUrl } from '../shared/redact.js';
import { shownState, type AgentState, type RepoState, type SyncState } from './child-state.js';
import type { StreamState } from './follow.js';
import type { StateChange } from './supervision.js';
import type { GroupStatus } from './groups.js';

export type { RepoState } from './child-state.js';

/** What a status is about: an entry the listing accepted, or as much as is known of a refused one. */
export type StatusSubject = Pick<ResolvedEntry, 'name' | 'path' | 'repo' | 'ref' | 'required' | 'maxStalenessMs'> & { intervalMs: number | null };

/** How many sync outcomes each entry's history keeps. */
export const HISTORY_LENGTH = 20;

/** One sync's outcome, as the history keeps it. */
export interface SyncRecord {
  /** When the outcome arrived (for a run of unchanged polls, the latest of them). */
  at: string;
  result: 'synced' | 'unchanged' | 'failed';
  /** The commit published or found unchanged; null for a failure. */
  commit: string | null;
  durationMs: number;
  errorKind: SyncErrorKind | null;
  /**
   * How many outcomes this record stands for: consecutive unchanged polls of one commit are one
   * record, or an idle entry polled every 10 s would push every real event out within minutes.
   */
  count: number;
}

export interface RepoStatus {
  name: string;
  path: string;
  /** With any userinfo removed. */
  repo: string;
  ref: string | null;
  /** The entry's poll interval; null for a refused entry no agent runs. */
  intervalMs: number | null;
  state: RepoState;
  /** The agent's process (starting, running, restarting, crash-looping, gave-up, stopping, stopped); null when no agent runs the entry. */
  agentState: AgentState | null;
  publishedCommit: string | null;
  lastSyncAt: string | null;
  lastSuccessAt: string | null;
  lastError: (WireError & { at: string }) | null;
  /** The last time the agent's process failed: it could not be started, crashed or was killed. */
  agentError: { message: string; at: string } | null;
  consecutiveFailures: number;
  /** When the agent retries after a failed sync, or is started again after it died. */
  nextRetryAt: string | null;
  pid: number | null;
  restarts: number;
  required: boolean;
  maxStalenessMs: number | null;
  /** Previously published commits still on disk (`keep`), newest first. */
  keptCommits: string[];
  /** The commit the pre-publish hook refused, until a later commit is published. */
  vetoedCommit: string | null;
  /** The commit verification (`verify`) refused, until a later commit is published. */
  unverifiedCommit: string | null;
  /** For a semver ref: the tag the published commit was resolved from, and its version. */
  resolvedTag: { name: string; version: string } | null;
  /** The last run of each hook. */
  hooks: Partial<Record<HookName, { ok: boolean; commit: string; at: string; message: string }>>;
  /**
   * The listing refuses this entry now (since `at`): it keeps running on its last good
   * definition, or, never valid, is not run at all (state `invalid`).
   */
  invalid: { message: string; at: string } | null;
  /** While a fetch runs: how far it is (git's own progress). Null otherwise. */
  progress: FetchProgress | null;
  /** The last HISTORY_LENGTH sync outcomes, newest first. */
  history: SyncRecord[];
  /** For an entry fetched from the hub this daemon follows (FOLLOW_EVENTS): the hub's event stream. */
  hub?: StreamState;
  /** A group member: its group, whose generation is what readers see (publishedCommit is the member's own, not yet shown until the group publishes). */
  group?: GroupStatus;
}

export function initialStatus(entry: StatusSubject): RepoStatus {
  return {
    name: entry.name,
    path: entry.path,
    repo: displayUrl(entry.repo),
    ref: entry.ref,
    intervalMs: entry.intervalMs,
    state: 'starting',
    agentState: 'starting',
    publishedCommit: null,
    lastSyncAt: null,
    lastSuccessAt: null,
    lastError: null,
    agentError: null,
    consecutiveFailures: 0,
    nextRetryAt: null,
    pid: null,
    restarts: 0,
    required: entry.required,
    maxStalenessMs: entry.maxStalenessMs,
    keptCommits: [],
    vetoedCommit: null,
    unverifiedCommit: null,
    resolvedTag: null,
    hooks: {},
    invalid: null,
    progress: null,
    history: [],
  };
}

/** A refused entry that no agent runs, as /status shows it: it holds no readiness back. */
export function refusedStatus(refusal: { index: number; name: string | undefined; path: string | undefined; message: string }, since: string): RepoStatus {
  return {
    ...initialStatus({ name: refusal.name ?? `(entry #${refusal.index + 1})`, path: refusal.path ?? '', repo: '', ref: null, required: false, maxStalenessMs: null, intervalMs: null }),
    state: 'invalid',
    agentState: null,
    invalid: { message: refusal.message, at: since },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The agent's process changed state (supervision.ts): what /status shows follows. */
export function applyStateChange(s: RepoStatus, c: StateChange, now: number): RepoStatus {
  return {
    ...s,
    agentState: c.to,
    state: shownState(c.to),
    pid: c.pid,
    restarts: c.restarts,
    // Whatever fetch was under way belonged to the process that just changed state.
    progress: null,
    agentError: c.failure === null ? s.agentError : { message: c.failure, at: iso(now) },
    nextRetryAt: c.restartInMs === null ? s.nextRetryAt : iso(now + c.restartInMs),
  };
}

/** A sync message changes the shown state only while the agent runs (not while it stops). */
const syncState = (s: RepoStatus, state: SyncState): RepoState => (s.agentState === 'running' ? state : s.state);

export function applyAgentMessage(s: RepoStatus, m: AgentMessage, now: number): RepoStatus {
  switch (m.type) {
    case 'hello':
      return { ...s, pid: m.pid };
    case 'ready':
      return { ...s, publishedCommit: m.publishedCommit ?? s.publishedCommit };
    case 'sync-started':
      return { ...s, state: syncState(s, s.consecutiveFailures > 0 ? 'failing' : 'syncing'), progress: null };
    case 'progress':
      return { ...s, progress: m.progress };
    case 'synced':
    case 'unchanged':
      return {
        ...s,
        progress: null,
        history: record(s.history, { at: iso(now), result: m.type, commit: m.commit, durationMs: m.durationMs, errorKind: null, count: 1 }),
        vetoedCommit: m.type === 'synced' ? null : s.vetoedCommit,
        unverifiedCommit: m.type === 'synced' ? null : s.unverifiedCommit,
        resolvedTag: m.tag ?? s.resolvedTag,
        keptCommits: m.type === 'synced' ? m.kept : s.keptCommits,
        state: syncState(s, 'synced'),
        publishedCommit: m.commit,
        lastSyncAt: iso(now),
        lastSuccessAt: iso(now),
        consecutiveFailures: 0,
        nextRetryAt: null,
      };
    case 'failed':
      return {
        ...s,
        state: syncState(s, 'failing'),
        progress: null,
        history: record(s.history, { at: iso(now), result: 'failed', commit: null, durationMs: m.durationMs, errorKind: m.error.kind, count: 1 }),
        lastSyncAt: iso(now),
        lastError: { ...m.error, at: iso(now) },
        unverifiedCommit: m.error.kind === 'unverified' && m.error.commit !== undefined ? m.error.commit : s.unverifiedCommit,
        consecutiveFailures: m.consecutiveFailures,
        nextRetryAt: iso(now + m.retryInMs),
      };
    case 'hook':
      return {
        ...s,
        hooks: { ...s.hooks, [m.hook]: { ok: m.ok, commit: m.commit, at: iso(now), message: m.message } },
        vetoedCommit: m.hook === 'pre-publish' && !m.ok ? m.commit : s.vetoedCommit,
      };
    case 'heartbeat':
    case 'log':
    case 'credential-request':
      return s;
    default: {
      const _never: never = m;
      return _never;
    }
  }
}

/** The history with `r` in front, at most HISTORY_LENGTH long; a repeated unchanged poll updates the record in front. */
export function record(history: readonly SyncRecord[], r: SyncRecord): SyncRecord[] {
  const newest = history[0];
  if (r.result === 'unchanged' && newest?.result === 'unchanged' && newest.commit === r.commit) {
    return [{ ...r, count: newest.count + r.count }, ...history.slice(1)];
  }
  return [r, ...history.slice(0, HISTORY_LENGTH - 1)];
}

/** Why an entry holds readiness back, or null when it does not. */
export function notReadyReason(s: RepoStatus, now: number): string | null {
  if (s.state === 'invalid' && s.invalid !== null) return `invalid listing entry: ${s.invalid.message}`;
  if (s.publishedCommit === null) return s.lastError === null ? 'not published yet' : `not published yet: ${s.lastError.kind}: ${s.lastError.message}`;
  if (s.maxStalenessMs !== null) {
    const last = s.lastSuccessAt === null ? null : Date.parse(s.lastSuccessAt);
    if (last === null || now - last > s.maxStalenessMs) {
      return `last successful sync ${last === null ? 'never' : `${Math.round((now - last) / 1000)}s ago`}, beyond maxStaleness ${s.maxStalenessMs} ms`;
    }
  }
  return null;
}

/** Readiness of the whole daemon: every required entry is ready. */
export function readiness(statuses: RepoStatus[], now: number): { ready: boolean; failing: Array<{ name: string; reason: string }> } {
  const failing = statuses
    .filter((s) => s.required)
    .map((s) => ({ name: s.name, reason: notReadyReason(s, now) }))
    .filter((f): f is { name: string; reason: string } => f.reason !== null);
  return { ready: failing.length === 0, failing };
}
