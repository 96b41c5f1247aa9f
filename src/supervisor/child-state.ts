// The one vocabulary of a child's state. The agent's process goes through the OTP supervisor's
// states (supervision.ts owns them); while it runs, what its syncs do says the rest. /status
// shows one word, metrics the process's: both come from the lists below.

/** The agent's process, as the supervisor sees it. */
export const AGENT_STATES = [
  /** Forked, or waiting for its turn to start; it has not said hello yet. */
  'starting',
  /** Said hello and syncs on its own. */
  'running',
  /** Died (crashed, was killed, could not be started): started again after a backoff. */
  'restarting',
  /** Died more than the restart intensity allows: started again only at the longest backoff. */
  'crash-looping',
  /** Refused its entry (exit 78): not started again until the entry changes. */
  'gave-up',
  'stopping',
  'stopped',
] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/** What a running agent's syncs are doing. `failing`: the last sync failed, the agent retries (nextRetryAt). */
export const SYNC_STATES = ['syncing', 'synced', 'failing'] as const;
export type SyncState = (typeof SYNC_STATES)[number];

/**
 * The state /status shows: the agent's process state, except while it runs, when it is its sync
 * state (`starting` until the first sync begins); `invalid` for an entry the listing refuses and
 * no agent runs.
 */
export type RepoState = Exclude<AgentState, 'running'> | SyncState | 'invalid';
export const REPO_STATES: readonly RepoState[] = [...AGENT_STATES.filter((s): s is Exclude<AgentState, 'running'> => s !== 'running'), ...SYNC_STATES, 'invalid'];

/** The shown state when the agent's process enters `agent`. */
export function shownState(agent: AgentState): RepoState {
  // A fresh process has not synced yet: what the previous one did is not what this one does.
  return agent === 'running' ? 'starting' : agent;
}
