// The supervisor loop: read the listing → decide (reconcile) → act (start, stop, restart agents)
// → report. A broken listing keeps the last good one running; a bad entry never stops the others.

import { createHash } from 'node:crypto';
import { ConfigError } from '../shared/config-error.js';
import { createLogger } from '../shared/log.js';
import { runtimeDir } from '../shared/runtime-dir.js';
import type { Log } from '../shared/logger.js';
import type { AgentMessage } from '../shared/protocol.js';
import { loadConfig, type SupervisorConfig } from './config.js';
import { createOperationsServer } from './http.js';
import { keepRefused, ListingError, parseListing, readListingText, type DesiredEntry } from './listing.js';
import { Metrics } from './metrics.js';
import { pruneEntry } from './prune.js';
import { reconcile } from './reconcile.js';
import { applyAgentMessage, initialStatus, refusedStatus, type RepoStatus } from './status.js';
import { DEFAULT_POLICY, SupervisedAgent, type LifecycleEvent } from './supervision.js';
import { Triggers } from './triggers.js';
import { watchListing } from './watch.js';

export class Supervisor {
  readonly agents = new Map<string, SupervisedAgent>();
  readonly metrics = new Metrics();
  private readonly status = new Map<string, RepoStatus>();
  /** Refused entries no agent runs (never valid), shown in /status as `invalid`. */
  private refused = new Map<string, RepoStatus>();
  /** What was last logged about each refused entry: a re-read logs only what changed. */
  private loggedRefusals = new Map<string, string>();
  private lastListingHash: string | null = null;
  /** A listing has been read and applied at least once. */
  listingLoaded = false;
  private reloading: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(
    readonly config: SupervisorConfig,
    private readonly log: Log,
  ) {}

  statuses(): RepoStatus[] {
    return [...this.status.values(), ...this.refused.values()];
  }

  private onAgentMessage(agent: SupervisedAgent, message: AgentMessage): void {
    const current = this.status.get(agent.name);
    if (current === undefined) return; // removed while the message was in flight
    this.status.set(agent.name, applyAgentMessage(current, message, Date.now()));
    this.metrics.onAgentMessage(agent.name, message);
  }

  private onLifecycle(agent: SupervisedAgent, event: LifecycleEvent): void {
    const current = this.status.get(agent.name);
    if (current === undefined) return;
    if (event.type === 'exited') {
      this.metrics.up.set({ repo: agent.name }, 0);
      this.status.set(agent.name, {
        ...current,
        pid: null,
        state: event.restartInMs === null ? 'stopped' : 'backoff',
        agentError: event.restartInMs === null && event.code === 0 ? current.agentError : { message: event.reason, at: new Date().toISOString() },
        nextRetryAt: event.restartInMs === null ? current.nextRetryAt : new Date(Date.now() + event.restartInMs).toISOString(),
      });
    } else {
      this.metrics.restarts.inc({ repo: agent.name });
      this.status.set(agent.name, { ...current, restarts: event.restarts, state: 'starting' });
    }
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
      const listing = parseListing(text, this.config.defaults, this.config.listingPath, {
        sharedStores: this.config.sharedStores,
        running: (e) => this.agents.get(e.name)?.desired.entry.path === e.path,
      });
      const { kept, displaced } = keepRefused(listing, [...this.agents.values()]);
      const now = new Date().toISOString();
      const logged = new Map<string, string>();
      // One line per bad entry, however many faults it has; a re-read repeats nothing.
      for (const r of listing.refused) {
        const key = r.name ?? `#${r.index}`;
        const keeping = kept.find((k) => k.refusal === r);
        logged.set(key, r.message);
        if (this.loggedRefusals.get(key) === r.message) continue;
        if (keeping !== undefined) {
          this.log.error('invalid listing entry; its last good definition keeps running', { error: r.message, index: r.index, repo: keeping.agent.name });
        } else {
          this.log.error('invalid listing entry; skipped, the others carry on', { error: r.message, index: r.index });
        }
      }
      this.loggedRefusals = logged;
      desired = [...listing.entries, ...kept.map((k) => k.agent.desired)];
      noPrune = new Set(displaced.map((a) => a.name));
      for (const [name, s] of this.status) {
        const k = kept.find((x) => x.agent.name === name);
        this.status.set(name, { ...s, invalid: k === undefined ? null : { message: k.refusal.message, at: s.invalid?.at ?? now } });
      }
      const running = new Set([...listing.entries.map((d) => d.entry.name), ...kept.map((k) => k.agent.name)]);
      const previous = this.refused;
      this.refused = new Map();
      for (const r of listing.refused) {
        if (kept.some((k) => k.refusal === r)) continue;
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
      this.log.error('listing rejected; keeping the last good one running', { error: err.message });
      this.metrics.listingReloads.inc({ result: 'error' });
      this.lastListingHash = hash;
      return;
    }
    this.metrics.listingReloads.inc({ result: 'success' });
    this.lastListingHash = hash;
    this.listingLoaded = true;
    await this.apply(desired, noPrune);
  }

  /** noPrune: agents stopped because a valid entry took their refused entry's path; never pruned. */
  private async apply(desired: DesiredEntry[], noPrune: ReadonlySet<string> = new Set()): Promise<void> {
    const running = [...this.agents.values()].map((a) => ({ name: a.name, fingerprint: a.desired.fingerprint }));
    const actions = reconcile(desired, running);
    // Stops and restarts finish before starts: a renamed entry must not have two agents on one path.
    await Promise.all(
      actions.map(async (action) => {
        if (action.kind === 'start') return;
        const agent = this.agents.get(action.kind === 'stop' ? action.name : action.desired.entry.name);
        if (agent === undefined) return;
        await agent.stop();
        this.agents.delete(agent.name);
        this.status.delete(agent.name);
        this.metrics.removeRepo(agent.name);
        if (action.kind === 'stop') {
          this.log.info('entry removed; agent stopped', { repo: agent.name });
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
    for (const action of actions) {
      if (action.kind === 'stop') continue;
      const agent = new SupervisedAgent(
        action.desired,
        this.log,
        (a, m) => this.onAgentMessage(a, m),
        (a, e) => this.onLifecycle(a, e),
        { ...DEFAULT_POLICY, heartbeatTimeoutMs: this.config.heartbeatTimeoutMs },
      );
      this.agents.set(agent.name, agent);
      this.status.set(agent.name, initialStatus(action.desired.entry));
      this.metrics.addRepo(agent.name);
      agent.start();
      if (action.kind === 'restart') this.log.info('entry changed; agent restarted', { repo: agent.name });
    }
  }

  syncAll(reason: string): void {
    for (const agent of this.agents.values()) agent.syncNow(reason);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.reloading;
    await Promise.all([...this.agents.values()].map((a) => a.stop()));
  }
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
  const server = createOperationsServer(
    {
      statuses: () => supervisor.statuses(),
      listingLoaded: () => supervisor.listingLoaded,
      metrics: async () => ({ contentType: supervisor.metrics.registry.contentType, body: await supervisor.metrics.registry.metrics() }),
      alive: () => true,
      triggers: new Triggers(config, () => supervisor.agents.values(), supervisor.metrics, log),
    },
    log,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ConfigError(`HTTP_BIND ${config.http.host}:${config.http.port}: cannot listen (${err.code ?? err.message})`)),
    );
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const address = server.address();
  log.info('http listening', { address: typeof address === 'object' && address !== null ? `${address.address}:${address.port}` : String(address) });
  await supervisor.reload('startup');
  const watcher = watchListing(config.listingPath, () => void supervisor.reload('listing changed'), { rereadMs: config.rereadMs });

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { signal });
    server.close();
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
  process.on('SIGHUP', () => supervisor.syncAll('SIGHUP'));
  const extra = config.syncOnSignal;
  if (extra !== undefined && extra !== 'SIGHUP') process.on(extra, () => supervisor.syncAll(extra));
}
