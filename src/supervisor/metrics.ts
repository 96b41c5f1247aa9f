// The prom-client registry and every series we export. Agents report over IPC; only the
// supervisor owns metrics. A removed entry's series are removed with it.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SYNC_ERROR_KINDS } from '../shared/errors.js';
import type { AgentMessage } from '../shared/protocol.js';
import type { AgentState } from './child-state.js';
import type { StateChange } from './supervision.js';
import type { GroupStatus } from './groups.js';

const EVENT_LOOP_SAMPLE_MS = 1000;

export class Metrics {
  readonly registry = new Registry();
  /** The supervisor's groups, read at each scrape (group-sets.ts owns their state). */
  groups: () => readonly GroupStatus[] = () => [];

  readonly groupGeneration = new Gauge({
    name: 'git_autosync_group_generation',
    help: 'The generation a group (`group`) shows readers; absent before its first.',
    labelNames: ['group'] as const,
    registers: [this.registry],
    collect: () => {
      this.groupGeneration.reset();
      for (const g of this.groups()) if (g.generation !== null) this.groupGeneration.set({ group: g.name }, g.generation);
    },
  });
  readonly groupHeld = new Gauge({
    name: 'git_autosync_group_held_members',
    help: 'Members failing now, which hold their group on its last good generation; 0 when none.',
    labelNames: ['group'] as const,
    registers: [this.registry],
    collect: () => {
      this.groupHeld.reset();
      for (const g of this.groups()) this.groupHeld.set({ group: g.name }, g.heldBy.length);
    },
  });

  readonly syncs = new Counter({
    name: 'git_autosync_sync_total',
    help: 'Syncs by outcome: success (a new commit published), unchanged, error.',
    labelNames: ['repo', 'result'] as const,
    registers: [this.registry],
  });
  readonly syncErrors = new Counter({
    name: 'git_autosync_sync_errors_total',
    help: `Failed syncs by kind (${SYNC_ERROR_KINDS.join(', ')}); a series appears with its first error.`,
    labelNames: ['repo', 'kind'] as const,
    registers: [this.registry],
  });
  readonly syncDuration = new Histogram({
    name: 'git_autosync_sync_duration_seconds',
    help: 'Duration of syncs (unchanged polls included).',
    labelNames: ['repo'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({
    name: 'git_autosync_last_success_timestamp_seconds',
    help: 'Unix time of the last successful sync (published or unchanged).',
    labelNames: ['repo'] as const,
    registers: [this.registry],
  });
  readonly consecutiveFailures = new Gauge({
    name: 'git_autosync_consecutive_failures',
    help: 'Failed syncs in a row; 0 after a success.',
    labelNames: ['repo'] as const,
    registers: [this.registry],
  });
  readonly restarts = new Counter({
    name: 'git_autosync_agent_restarts_total',
    help: 'Times the agent process of a repo was restarted after it died.',
    labelNames: ['repo'] as const,
    registers: [this.registry],
  });
  readonly up = new Gauge({
    name: 'git_autosync_agent_up',
    help: '1 while the repo agent process is running and has said hello.',
    labelNames: ['repo'] as const,
    registers: [this.registry],
  });
  readonly agentState = new Gauge({
    name: 'git_autosync_agent_state',
    help: 'The state of the repo agent process (value always 1): starting, running, restarting, crash-looping, gave-up, stopping.',
    labelNames: ['repo', 'state'] as const,
    registers: [this.registry],
  });
  readonly commitInfo = new Gauge({
    name: 'git_autosync_published_commit_info',
    help: 'The commit published for a repo (value always 1).',
    labelNames: ['repo', 'commit'] as const,
    registers: [this.registry],
  });
  readonly listingReloads = new Counter({
    name: 'git_autosync_listing_reloads_total',
    help: 'Listing reads by result: success, or error (unreadable or invalid JSON; the last good listing kept).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly listingEntries = new Gauge({
    name: 'git_autosync_listing_entries',
    help: 'Entries in the current listing by state.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly hookRuns = new Counter({
    name: 'git_autosync_hook_runs_total',
    help: 'Hook runs by hook (exec, webhook, touch, pre-publish) and result; a pre-publish failure is a veto.',
    labelNames: ['repo', 'hook', 'result'] as const,
    registers: [this.registry],
  });
  readonly triggers = new Counter({
    name: 'git_autosync_trigger_requests_total',
    help: 'Incoming sync triggers by endpoint (github, gitlab, gitea, sync) and result (accepted, ignored, unauthorized, invalid, disabled).',
    labelNames: ['endpoint', 'result'] as const,
    registers: [this.registry],
  });

  readonly serveRequests = new Counter({
    name: 'git_autosync_serve_requests_total',
    help: 'Requests for what this daemon serves to other daemons and consumers, by endpoint (events, git) and result (accepted, served by git, answered without git, unauthorized, disabled, busy, refused, not-found, unpublished, invalid, failed).',
    labelNames: ['endpoint', 'result'] as const,
    registers: [this.registry],
  });
  readonly serveUploadPacks = new Gauge({
    name: 'git_autosync_serve_upload_packs',
    help: 'Fetches served by upload-pack now (SERVE_GIT), running and waiting for a slot: size the hub by how often they wait.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly followStreamConnected = new Gauge({
    name: 'git_autosync_follow_stream_connected',
    help: "1 while the hub's event stream (FOLLOW_EVENTS) is open, 0 while it is down.",
    registers: [this.registry],
  });
  readonly eventSubscribers = new Gauge({
    name: 'git_autosync_event_subscribers',
    help: 'Connections to GET /events open now.',
    registers: [this.registry],
  });

  constructor() {
    // The event-loop delay percentiles sample with a timer at this period: prom-client's 10 ms
    // default would wake an otherwise idle supervisor 100 times a second (measured: the largest
    // share of its idle CPU at 100 repos); once a second still shows a loop that stalls.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    for (const result of ['success', 'error']) this.listingReloads.inc({ result }, 0);
  }

  /** Create a repo's series at zero, so rates and alerts see it from the start. */
  addRepo(repo: string): void {
    for (const result of ['success', 'unchanged', 'error']) this.syncs.inc({ repo, result }, 0);
    this.restarts.inc({ repo }, 0);
    this.consecutiveFailures.set({ repo }, 0);
    this.up.set({ repo }, 0);
    this.agentState.set({ repo, state: 'starting' }, 1);
  }

  /** `last`: what the repo's record holds when it goes, to name its last series. */
  removeRepo(repo: string, last: { agentState: AgentState | null; publishedCommit: string | null }): void {
    // remove() takes a full label set, so each series is named exactly.
    for (const result of ['success', 'unchanged', 'error']) this.syncs.remove({ repo, result });
    this.syncDuration.remove({ repo });
    for (const g of [this.lastSuccess, this.consecutiveFailures, this.up]) g.remove({ repo });
    this.restarts.remove({ repo });
    for (const hook of ['exec', 'webhook', 'touch', 'pre-publish']) for (const result of ['success', 'failure']) this.hookRuns.remove({ repo, hook, result });
    for (const kind of SYNC_ERROR_KINDS) this.syncErrors.remove({ repo, kind });
    if (last.agentState !== null) this.agentState.remove({ repo, state: last.agentState });
    if (last.publishedCommit !== null) this.commitInfo.remove({ repo, commit: last.publishedCommit });
  }

  /** One series per repo: the agent process's state now; a restart after a death is counted. */
  onStateChange(repo: string, c: StateChange): void {
    this.agentState.remove({ repo, state: c.from });
    this.agentState.set({ repo, state: c.to }, 1);
    this.up.set({ repo }, c.to === 'running' ? 1 : 0);
    if (c.to === 'starting' && (c.from === 'restarting' || c.from === 'crash-looping')) this.restarts.inc({ repo });
  }

  /** The published commit changed (the repo's status record holds it). */
  onCommit(repo: string, previous: string | null, commit: string | null): void {
    if (previous === commit) return;
    if (previous !== null) this.commitInfo.remove({ repo, commit: previous });
    if (commit !== null) this.commitInfo.set({ repo, commit }, 1);
  }

  onAgentMessage(repo: string, m: AgentMessage): void {
    switch (m.type) {
      case 'synced':
      case 'unchanged':
        this.syncs.inc({ repo, result: m.type === 'synced' ? 'success' : 'unchanged' });
        this.syncDuration.observe({ repo }, m.durationMs / 1000);
        this.lastSuccess.set({ repo }, Date.now() / 1000);
        this.consecutiveFailures.set({ repo }, 0);
        break;
      case 'failed':
        this.syncs.inc({ repo, result: 'error' });
        this.syncErrors.inc({ repo, kind: m.error.kind });
        this.syncDuration.observe({ repo }, m.durationMs / 1000);
        this.consecutiveFailures.set({ repo }, m.consecutiveFailures);
        break;
      case 'hook':
        this.hookRuns.inc({ repo, hook: m.hook, result: m.ok ? 'success' : 'failure' });
        break;
      case 'hello':
      case 'ready':
      case 'sync-started':
      case 'heartbeat':
      case 'progress':
      case 'log':
      case 'credential-request':
        break;
      default: {
        const _never: never = m;
        void _never;
      }
    }
  }
}
