// The supervisor loop: read the listing → decide (reconcile) → act (start, stop, restart agents)
// → report. A broken listing keeps the last good one running; a bad entry never stops the others.

import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { ConfigError } from '../shared/config-error.js';
import { createLogger } from '../shared/logger.js';
import { runtimeDir } from '../shared/runtime-dir.js';
import type { Log } from '../shared/log.js';
import { loadConfig, type SupervisorConfig } from './config.js';
import { createOperationsServer } from './http.js';
import { keepRefused, ListingError, parseListingInTurns, readListingText, SLICE_MS, type DesiredEntry, type KnownEntries } from './listing.js';
import { Metrics } from './metrics.js';
import { pruneEntry } from './prune.js';
import { reconcile, startOrder, type Action } from './reconcile.js';
import { restartReason } from './restart-reason.js';
import { Children } from './children.js';
import { refusedStatus, type RepoStatus } from './status.js';
import { runStepsInTurns } from './steps.js';
import { DEFAULT_POLICY, SupervisedAgent, type RestartPolicy } from './supervision.js';
import { Triggers, type Triggerable } from './triggers.js';
import { Groups } from './group-sets.js';
import { PublishEvents } from './events.js';
import type { HubFollower } from './follow.js';
import type { GitServer } from './serve-git.js';
import { watchListing } from './watch.js';

/** A start or a restart: what makes an agent. */
type StartAction = Exclude<Action<DesiredEntry>, { kind: 'stop' }>;

/** For tests: a faster restart policy, a fixture agent. */
export interface SupervisorOptions {
  policy?: Partial<RestartPolicy>;
  agentScript?: string;
}

export class Supervisor {
  readonly metrics = new Metrics();
  /** One record per entry an agent runs: agent, status and series together. */
  readonly children = new Children(this.metrics);
  /** GET /events: each publish, told to whoever listens. */
  readonly events: PublishEvents;
  /** SERVE_GIT: /git/{name}; set by runSupervisor when serving. */
  git: GitServer | null = null;
  /** FOLLOW_EVENTS: the hub's event stream; set by runSupervisor when following. */
  follower: HubFollower | null = null;
  /** Entries published as consistent sets (`group`), each run here from its members' reports. */
  readonly groups: Groups;
  /** Refused entries no agent runs (never valid), shown in /status as `invalid`. */
  private refused = new Map<string, RepoStatus>();
  /** What was last logged about each refused entry: a re-read logs only what changed. */
  private loggedRefusals = new Map<string, string>();
  private lastListingHash: string | null = null;
  /** When the listing in force was read and applied; null until one has been. */
  listingLoadedAt: string | null = null;
  /** The last good listing's entries, resolved: a reload checks only entries whose text changed. */
  private known: KnownEntries = new Map();
  private reloading: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(
    readonly config: SupervisorConfig,
    private readonly log: Log,
    private readonly options: SupervisorOptions = {},
  ) {
    this.events = new PublishEvents(config.serveTokenFile, this.metrics, log);
    this.groups = new Groups((name) => this.children.get(name)?.agent, log, config.defaults.syncRoot);
    this.metrics.groups = () => this.groups.statuses();
  }

  statuses(): RepoStatus[] {
    // A member's status carries its group's: what readers see is the group's generation. A spoke's
    // entry carries its hub's event stream.
    const follower = this.follower;
    const decorate = (s: RepoStatus): RepoStatus => {
      const group = this.groups.groupOf(s.name);
      const withGroup = group === undefined ? s : { ...s, group };
      return follower !== null && follower.follows(s.repo) ? { ...withGroup, hub: follower.status } : withGroup;
    };
    return [...this.children.statuses().map(decorate), ...this.refused.values()];
  }

  /** What triggers see of agents: a sync asked of a group member is its group's (every member syncs). */
  triggerables(): Triggerable[] {
    return this.children.agents().map((a) => ({ name: a.name, desired: a.desired, syncNow: (reason: string) => this.groups.syncNow(a, reason) }));
  }

  /** Re-read the listing and apply it; reloads never overlap. */
  reload(reason: string): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadNow(reason)).catch((err: unknown) => {
      this.log.error('listing reload failed', { error: err instanceof Error ? err.message : String(err) });
    });
    return this.reloading;
  }

  private async reloadNow(reason: string): Promise<void> {
    if (this.stopping) return;
    // Read once: the hash and the parse see the same bytes.
    let text: string | null = null;
    let readError: ListingError | null = null;
    try {
      text = await readListingText(this.config.listingPath);
    } catch (err) {
      if (!(err instanceof ListingError)) throw err;
      readError = err;
    }
    const hash = text === null ? null : createHash('sha256').update(text).digest('hex');
    // The periodic re-read and duplicate watcher events land here: same bytes, nothing to do.
    if (hash !== null && hash === this.lastListingHash) return;
    let desired: DesiredEntry[];
    let noPrune = new Set<string>();
    try {
      if (readError !== null || text === null) throw readError ?? new ListingError(`listing ${this.config.listingPath}: cannot be read`);
      const listing = await parseListingInTurns(text, this.config.defaults, this.config.listingPath, {
        sharedStores: this.config.sharedStores,
        running: (e) => this.children.get(e.name)?.agent.desired.entry.path === e.path,
        known: this.known,
      });
      this.known = listing.known;
      const { kept, displaced } = keepRefused(listing, this.children.agents());
      const keptByRefusal = new Map(kept.map((k) => [k.refusal, k]));
      const keptByName = new Map(kept.map((k) => [k.agent.name, k]));
      const now = new Date().toISOString();
      const logged = new Map<string, string>();
      // One line per bad entry, however many faults it has; a re-read repeats nothing.
      for (const r of listing.refused) {
        const key = r.name ?? `#${r.index}`;
        const keeping = keptByRefusal.get(r);
        logged.set(key, r.message);
        if (this.loggedRefusals.get(key) === r.message) continue;
        if (keeping !== undefined) {
          this.log.error('invalid listing entry; its last good definition keeps running', { error: r.message, entry: r.index + 1, repo: keeping.agent.name });
        } else {
          this.log.error('invalid listing entry; skipped, the others carry on', { error: r.message, entry: r.index + 1 });
        }
      }
      this.loggedRefusals = logged;
      desired = [...listing.entries, ...kept.map((k) => k.agent.desired)];
      noPrune = new Set(displaced.map((a) => a.name));
      for (const child of this.children.values()) {
        const k = keptByName.get(child.agent.name);
        child.status = { ...child.status, invalid: k === undefined ? null : { message: k.refusal.message, at: child.status.invalid?.at ?? now } };
      }
      const running = new Set([...listing.entries.map((d) => d.entry.name), ...kept.map((k) => k.agent.name)]);
      const previous = this.refused;
      this.refused = new Map();
      for (const r of listing.refused) {
        if (keptByRefusal.has(r)) continue;
        const st = refusedStatus(r, now);
        if (running.has(st.name)) continue; // its name is a valid entry's: /status/{name} shows that one
        this.refused.set(st.name, { ...st, invalid: { message: r.message, at: previous.get(st.name)?.invalid?.at ?? now } });
      }
      this.metrics.listingEntries.set({ state: 'valid' }, listing.entries.length);
      this.metrics.listingEntries.set({ state: 'invalid' }, listing.invalidEntries);
      this.log.info('listing loaded', { reason, valid: listing.entries.length, invalid: listing.invalidEntries });
    } catch (err) {
      if (!(err instanceof ListingError)) throw err;
      // Keep running what we have: a half-written or broken listing must not stop anything.
      // Before any listing was good there is nothing to keep: say what is true then.
      const outcome = this.listingLoadedAt !== null ? 'keeping the last good one running' : 'nothing is running, waiting for a valid listing';
      this.log.error(`listing rejected; ${outcome}`, { error: err.message });
      this.metrics.listingReloads.inc({ result: 'error' });
      this.lastListingHash = hash;
      return;
    }
    this.metrics.listingReloads.inc({ result: 'success' });
    this.lastListingHash = hash;
    this.listingLoadedAt = new Date().toISOString();
    await this.apply(desired, noPrune);
  }

  /** noPrune: agents stopped because a valid entry took their refused entry's path; never pruned. */
  private async apply(desired: DesiredEntry[], noPrune: ReadonlySet<string> = new Set()): Promise<void> {
    const agents = this.children.agents();
    const actions = reconcile(desired, agents.map((a) => ({ name: a.name, fingerprint: a.desired.fingerprint })));
    const before = new Map(agents.map((a) => [a.name, a.desired]));
    // Stops and restarts finish before starts: a renamed entry must not have two agents on one path.
    await Promise.all(
      actions.map(async (action) => {
        if (action.kind === 'start') return;
        const agent = this.children.get(action.kind === 'stop' ? action.name : action.desired.entry.name)?.agent;
        if (agent === undefined) return;
        await agent.stop();
        this.children.remove(agent.name);
        if (action.kind === 'stop') {
          this.log.info('entry removed; agent stopped', { repo: agent.name });
          await this.git?.withdraw(agent.desired.entry);
          if (!noPrune.has(agent.name) && (agent.desired.entry.prune ?? this.config.prune)) {
            const removed = await pruneEntry(agent.desired.entry).catch((err: unknown) => {
              this.log.error('prune failed', { repo: agent.name, error: (err as Error).message });
              return [];
            });
            this.log.info('pruned removed entry', { repo: agent.name, removed });
          }
        }
      }),
    );
    // Before any member starts: each group reads the generation on disk first.
    await this.groups.apply(desired.map((d) => d.entry));
    const starts = startOrder(actions.filter((a): a is StartAction => a.kind !== 'stop'));
    // Thousands of starts (a record, series and a queued fork each) would hold the event loop
    // for seconds: /healthz answers between slices.
    await runStepsInTurns(this.startSteps(starts, before, desired), SLICE_MS);
  }

  /** One agent started per step. */
  private *startSteps(starts: readonly StartAction[], before: ReadonlyMap<string, DesiredEntry>, desired: readonly DesiredEntry[]): Generator<void, void> {
    for (const action of starts) {
      this.startAgent(action, before, desired);
      yield;
    }
  }

  private startAgent(action: StartAction, before: ReadonlyMap<string, DesiredEntry>, desired: readonly DesiredEntry[]): void {
    const agent = new SupervisedAgent(action.desired, {
      log: this.log,
      onMessage: (a, m) => {
        const status = this.children.onMessage(a, m);
        if (status === undefined) return;
        this.groups.onMessage(a, m);
        if (m.type !== 'synced') return;
        // Before the announcement: a spoke told of a publish finds the hub serving it. (Only on a
        // publish, not on every heartbeat; a request brings the refs up to date after a restart.)
        this.git?.published(a.desired.entry, m.commit);
        this.events.announce({ name: a.name, commit: m.commit, previousCommit: m.previousCommit, at: status.lastSyncAt ?? new Date().toISOString() });
      },
      onStateChange: (a, c) => {
        this.children.onStateChange(a, c);
        if (c.to === 'restarting' || c.to === 'crash-looping' || c.to === 'gave-up') this.groups.onAgentDown(a.name, c.failure ?? c.to);
      },
      policy: { ...DEFAULT_POLICY, heartbeatTimeoutMs: this.config.heartbeatTimeoutMs, ...this.options.policy },
      script: this.options.agentScript,
    });
    this.children.add(agent);
    agent.start();
    const previous = before.get(agent.name);
    if (action.kind !== 'restart' || previous === undefined) return;
    const why = restartReason(previous, action.desired, desired, (name) => before.get(name));
    if (why.kind === 'edited') this.log.info('entry changed; agent restarted', { repo: agent.name });
    else this.log.info('shared store changed; agent restarted', { repo: agent.name, reason: why.reason });
  }

  /** A signal asks every entry to sync now: said once, here, rather than once per agent. */
  syncOnSignal(signal: string): void {
    this.log.info('sync requested by signal', { signal, repos: this.children.size });
    for (const agent of this.triggerables()) agent.syncNow(signal);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.reloading;
    await Promise.all(this.children.agents().map((a) => a.stop()));
    this.groups.close();
  }
}

/** Listen on `bind` (the setting `name`), or a ConfigError naming it. */
async function listen(server: Server, bind: { host: string; port: number }, name: string, log: Log): Promise<Server> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ConfigError(`${name} ${bind.host}:${bind.port}: cannot listen (${err.code ?? err.message})`)));
    server.listen(bind.port, bind.host, () => resolve());
  });
  const address = server.address();
  log.info('http listening', { setting: name, address: typeof address === 'object' && address !== null ? `${address.address}:${address.port}` : String(address) });
  return server;
}

export async function runSupervisor(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(env);
  // Agents inherit the environment: the level decides which of their lines they send.
  process.env.LOG_LEVEL = config.logLevel;
  process.env.LOG_FORMAT = config.logFormat; // --log-format reaches createLogger like the variable
  // Minted and fetched credentials live in one private folder (tmpfs), named to agents through
  // the environment and removed when the daemon stops (see shared/runtime-dir.ts).
  const runtime = runtimeDir();
  const log = createLogger({ component: 'supervisor' });
  if (config.oneTime) {
    const { runOnce } = await import('./one-time.js');
    process.exit(await runOnce(config, log));
  }
  const supervisor = new Supervisor(config, log);
  log.info('starting', { listing: config.listingPath, intervalMs: config.defaults.intervalMs, pid: process.pid, runtimeDir: runtime });
  if (config.serveGit) {
    const { GitServer } = await import('./serve-git.js');
    supervisor.git = new GitServer({
      tokenFile: config.serveTokenFile,
      entry: (name) => {
        const child = supervisor.children.get(name);
        return child === undefined ? undefined : { entry: child.agent.desired.entry, publishedCommit: child.status.publishedCommit };
      },
      metrics: supervisor.metrics,
      log,
    });
  }
  const view = {
    statuses: () => supervisor.statuses(),
    listingLoadedAt: () => supervisor.listingLoadedAt,
    metrics: async () => ({ contentType: supervisor.metrics.registry.contentType, body: await supervisor.metrics.registry.metrics() }),
    triggers: new Triggers(config, () => supervisor.triggerables(), supervisor.metrics, log),
    events: supervisor.events,
    groups: supervisor.groups,
    ...(supervisor.git === null ? {} : { git: supervisor.git }),
  };
  const server = await listen(createOperationsServer(view, log), config.http, 'HTTP_BIND', log);
  const openServer = config.serveOpenBind === undefined ? null : await listen(createOperationsServer(view, log, { servedOnly: true }), config.serveOpenBind, 'SERVE_OPEN_BIND', log);
  if (config.follow !== undefined) {
    const { HubFollower } = await import('./follow.js');
    supervisor.follower = new HubFollower(config.follow.url, config.follow.tokenFile, () => supervisor.triggerables(), supervisor.metrics, log);
  }
  await supervisor.reload('startup');
  supervisor.follower?.start();
  const watcher = watchListing(config.listingPath, () => void supervisor.reload('listing changed'), { rereadMs: config.rereadMs });

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { signal });
    server.close();
    openServer?.close();
    supervisor.follower?.stop();
    supervisor.events.close();
    void watcher
      .close()
      .then(() => supervisor.stop())
      .then(
        () => {
          log.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          log.error('error during shutdown', { error: String(err) });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => supervisor.syncOnSignal('SIGHUP'));
  const extra = config.syncOnSignal;
  if (extra !== undefined && extra !== 'SIGHUP') process.on(extra, () => supervisor.syncOnSignal(extra));
}
