// The agent process: one entry, one loop. It syncs on its interval or when told, reports every
// outcome, and exits only when told to stop or when an invariant breaks (a bug), which is what
// the supervisor restarts. A failed sync is not a crash: it is reported and retried with backoff.

// A supervised agent loads neither the schema library nor winston: the supervisor validated the
// entry and writes the logs, which keeps each agent process small.
import { SyncError } from '../shared/errors.js';
import type { AgentDefaults, ResolvedEntry } from '../shared/listing-schema.js';
import { levelEnabled, type Log, type LogFields, type LogLevel } from '../shared/log.js';
import { EXIT_CONFIG, PROTOCOL_VERSION, parseSupervisorMessage, type AgentMessage, type CredentialGrant, type SyncReason } from '../shared/protocol.js';
import { redact } from '../shared/redact.js';
import { isObjectId } from '../shared/object-id.js';
import { nextDelay, waitFrom } from './poll.js';
import { killLeftoverGit } from './repair.js';
import { EntryLockedError, LOCKED_RETRY_CAP_MS } from './entry-lock.js';
import { AfterPublish } from './hooks.js';
import { refuseCurrentGrant, setCredentialChannel } from './minted.js';
import { RepoSync, VetoError, type SyncOutcome } from './sync.js';
import { SyncProgress } from './sync-progress.js';
import { UnverifiedError } from './verify.js';
import { RateLimitedError } from './rate-limit.js';
/** An interval sync still running after this long is announced as "syncing". */
const SLOW_SYNC_MS = 250; // EX_CONFIG: the entry itself is invalid, restarting will not help
const EXIT_BUG = 70; // EX_SOFTWARE
/** How long an attempt waits for the supervisor's answer to a credential request. */
const CREDENTIAL_WAIT_MS = 60_000;

export type Reporter = (message: AgentMessage) => void;

export class AgentLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private pending: SyncReason | null = null;
  private failures = 0;
  private stopping = false;
  private published: string | null = null;
  /** When the retry after the last failure starts (epoch ms): the time reported is the time used. */
  private retryAt = 0;
  /** A host's Retry-After: no sync, whatever asks for one, starts before this (epoch ms). */
  private notBefore = 0;
  /** Set once prepare() has taken the entry's lock and healed its state. */
  private prepared = false;
  private readonly afterPublish: AfterPublish;

  constructor(
    private readonly entry: ResolvedEntry,
    private readonly sync: RepoSync,
    private readonly report: Reporter,
    private readonly log: Log,
    private readonly onBug: (err: unknown) => void,
    /** Fed by the sync's fetches (RepoSync's onProgress); this loop says when a sync begins and ends. */
    private readonly progress: SyncProgress,
  ) {
    this.afterPublish = new AfterPublish(entry, report, log);
  }

  async start(): Promise<void> {
    if (!(await this.prepare(true))) return;
    this.report({ type: 'ready', publishedCommit: this.published });
    this.log.info('agent ready', { path: this.entry.path, publishedCommit: this.published });
    this.trigger('startup');
  }

  /**
   * Take the entry and heal it. A failure to (the entry is held by another daemon's agent, its
   * folder cannot be made) is reported like a failed sync and, when `retry`, tried again with
   * the same backoff: once the holder is gone, we take over.
   */
  private async prepare(retry: boolean): Promise<boolean> {
    const started = Date.now();
    try {
      this.published = await this.sync.prepare();
      this.prepared = true;
      return true;
    } catch (err) {
      if (!(err instanceof SyncError)) throw err;
      this.failures += 1;
      const backoff = nextDelay(this.failures, this.entry.intervalMs);
      const retryInMs = err instanceof EntryLockedError ? Math.min(backoff, LOCKED_RETRY_CAP_MS) : backoff;
      const message = redact(err.message);
      this.report({ type: 'failed', error: { kind: err.kind, message }, consecutiveFailures: this.failures, retryInMs, durationMs: Date.now() - started });
      // Without `retry` (one-time mode) nothing is retried: the line must not promise a retry.
      this.log.warn('sync failed', { step: 'start-up', kind: err.kind, error: message, consecutiveFailures: this.failures, ...(retry ? { retryInMs } : {}) });
      if (retry && !this.stopping) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.start().catch(this.onBug);
        }, retryInMs);
      }
      return false;
    }
  }

  /** Sync now; while a sync runs, any number of triggers make exactly one more sync afterwards. */
  trigger(reason: SyncReason): void {
    // Not before the entry is ours: its retry is already scheduled.
    if (this.stopping || !this.prepared) return;
    if (this.running !== null) {
      this.pending = reason;
      return;
    }
    // The host asked us to wait: the retry is already set for when it said, and comes first.
    if (this.timer !== null && Date.now() < this.notBefore) return this.logDeferred(reason);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.syncAndReport(reason).finally(() => {
      this.running = null;
    });
  }

  /** Resolves once the sync under way (if any) has finished. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.running;
    this.sync.close();
  }

  /** A group member: the trees its group's generations still link, kept until let go. */
  hold(commits: readonly string[]): void {
    this.sync.holds.set(commits);
  }

  /** Folders whose git processes belong to this agent. */
  ownedDirs(): string[] {
    return this.sync.ownedDirs();
  }

  /** After the sync under way was abandoned and its git killed. */
  sweepAbandoned(): Promise<void> {
    return this.sync.sweepAbandonedFetch();
  }

  /** One-time mode: one sync and nothing after it; resolves to the outcome's success. */
  async runOneTime(): Promise<boolean> {
    if (!(await this.prepare(false))) {
      this.sync.close();
      return false;
    }
    this.stopping = true;
    await this.syncAndReport('startup');
    // One-time mode exits next: let the after-publish hooks finish first.
    await this.afterPublish.settle();
    this.sync.close();
    return this.failures === 0;
  }

  /** One sync, its outcome reported, and the next one scheduled (unless stopping). */
  private async syncAndReport(reason: SyncReason): Promise<void> {
    const started = Date.now();
    // A poll usually ends within milliseconds: say "syncing" only for syncs that were asked for,
    // or that last, which spares the supervisor two messages per idle poll.
    const announce = () => this.report({ type: 'sync-started', reason });
    let announced: NodeJS.Timeout | null = null;
    if (reason === 'interval' || reason === 'retry') announced = setTimeout(announce, SLOW_SYNC_MS);
    else announce();
    try {
      this.progress.begin();
      const outcome = await this.syncRenewingRefusedToken().finally(() => this.progress.end());
      const durationMs = Date.now() - started;
      this.failures = 0;
      this.published = outcome.commit;
      const tag = outcome.tag === undefined ? {} : { tag: outcome.tag };
      if (outcome.result === 'synced') {
        this.report({ type: 'synced', commit: outcome.commit, previousCommit: outcome.previousCommit, durationMs, fetched: outcome.fetched, kept: outcome.kept ?? [], ...tag });
        this.log.info('published', { commit: outcome.commit, previousCommit: outcome.previousCommit, durationMs });
        this.afterPublish.published(outcome.commit, outcome.tree);
      } else {
        this.report({ type: 'unchanged', commit: outcome.commit, durationMs, ...tag });
        this.log.debug('unchanged', { commit: outcome.commit, durationMs });
      }
    } catch (err) {
      if (!(err instanceof SyncError)) {
        this.onBug(err);
        return;
      }
      this.failures += 1;
      const durationMs = Date.now() - started;
      if (err instanceof VetoError) {
        this.report({ type: 'hook', hook: 'pre-publish', ok: false, commit: err.commit, durationMs, message: redact(err.message) });
      }
      // Retry-After counts from its answer (now); our own backoff from the attempt's start.
      const asked = err instanceof RateLimitedError ? err.limit.retryAfterMs : null;
      this.retryAt = asked !== null ? Date.now() + asked : started + nextDelay(this.failures, this.entry.intervalMs);
      this.notBefore = asked !== null ? this.retryAt : 0;
      const retryInMs = Math.max(0, this.retryAt - Date.now());
      const message = redact(err.message);
      const refused = err instanceof UnverifiedError ? { commit: err.commit } : {};
      this.report({ type: 'failed', error: { kind: err.kind, message, ...refused }, consecutiveFailures: this.failures, retryInMs, durationMs });
      // One-time mode (stopping already) never retries: its line must not promise a retry.
      const retry = this.stopping ? {} : { retryInMs };
      this.log.warn('sync failed', { kind: err.kind, error: message, ...refused, consecutiveFailures: this.failures, ...retry, durationMs });
    }
    if (announced !== null) clearTimeout(announced);
    this.scheduleAfter(started);
  }

  /**
   * A minted token (GitHub App) that git refuses has expired early or was revoked: get a fresh
   * one and try once more before the failure counts as "auth".
   */
  private async syncRenewingRefusedToken(): Promise<SyncOutcome> {
    try {
      return await this.sync.sync();
    } catch (err) {
      if (!(err instanceof SyncError) || err.kind !== 'auth' || this.entry.credentials.githubApp === undefined || !refuseCurrentGrant()) throw err;
      this.log.info('minted token refused; retrying once with a fresh one', { error: redact(err.message) });
      return this.sync.sync();
    }
  }

  private logDeferred(reason: SyncReason): void {
    this.log.info('sync deferred: the host asked to wait', { reason, until: new Date(this.notBefore).toISOString() });
  }

  private scheduleAfter(started: number): void {
    if (this.stopping) return;
    if (this.pending !== null) {
      const reason = this.pending;
      this.pending = null;
      if (Date.now() >= this.notBefore) {
        // A macrotask, not a microtask: this runs inside the sync, and `running` is cleared only
        // by its promise's finally, after every microtask queued here. A microtask found the sync
        // still running, set `pending` again and returned: the sync-now was lost, and with it the
        // next interval's timer (group rounds asked members twice within one sync and saw it).
        setImmediate(() => this.trigger(reason));
        return;
      }
      this.logDeferred(reason);
    }
    // A pinned commit, once published, never changes: no more polling.
    if (this.failures === 0 && this.entry.ref !== null && isObjectId(this.entry.ref) && this.published === this.entry.ref) return;
    const delay = this.failures > 0 ? Math.max(0, this.retryAt - Date.now()) : waitFrom(started, nextDelay(0, this.entry.intervalMs), Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.trigger(this.failures > 0 ? 'retry' : 'interval');
    }, delay);
  }
}

/** Log lines travel to the supervisor, which writes them with the repo's name. */
function ipcLog(send: Reporter, threshold: string | undefined): Log {
  const line = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
    if (levelEnabled(level, threshold)) send({ type: 'log', level, message, fields });
  };
  return { error: line('error'), warn: line('warn'), info: line('info'), debug: line('debug') };
}

/** How often an agent checks that its supervisor is still its parent. */
const PARENT_CHECK_MS = 1_000;

/** How long a stop lets the sync under way finish before abandoning it. */
const STOP_DEADLINE_MS = 5_000;

function installShutdown(loop: AgentLoop, log: Log, extra: () => void = () => undefined): () => void {
  let done = false;
  const shutdown = () => {
    if (done) return;
    done = true;
    extra();
    // Let the current step finish; past the deadline abandon it. Either way nothing is half
    // published (the link only ever moves in one rename), and the git we started goes with us.
    const deadline = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), STOP_DEADLINE_MS).unref());
    Promise.race([loop.stop().then(() => 'stopped' as const), deadline])
      .then(async (how) => {
        if (how === 'late') {
          log.warn('sync still running at shutdown; abandoning it', { deadlineMs: STOP_DEADLINE_MS });
          await killLeftoverGit(loop.ownedDirs());
          await loop.sweepAbandoned().catch(() => undefined);
        }
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error('error while stopping', { error: String(err) });
        process.exit(1);
      });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  return shutdown;
}

/** Exit once queued IPC messages (the outcome report) have been handed over. */
function exitAfterFlush(code: number): void {
  if (process.connected) process.send?.({ type: 'heartbeat', at: Date.now() }, undefined, undefined, () => process.exit(code));
  else process.exit(code);
}

function bugHandler(log: Log): (err: unknown) => void {
  return (err) => {
    log.error('agent invariant broken; exiting so the supervisor restarts it', { error: redact(err instanceof Error ? (err.stack ?? err.message) : String(err)) });
    process.exit(EXIT_BUG);
  };
}

/** Run under a supervisor: handshake over IPC, then follow its messages. */
export function runSupervisedAgent(): void {
  let lastSent = 0;
  const send = (m: AgentMessage) => {
    lastSent = Date.now();
    // The channel may be closing while we exit; a lost report is not worth a crash.
    if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
  };
  send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, pid: process.pid });
  let loop: AgentLoop | null = null;
  let shutdown: (() => void) | null = null;
  const log = ipcLog(send, process.env.LOG_LEVEL);
  // Minted credentials come from the supervisor, which shares them between entries.
  const waiting = new Map<number, { resolve: (g: CredentialGrant) => void; reject: (e: SyncError) => void }>();
  let nextRequest = 1;
  setCredentialChannel((staleGeneration) =>
    new Promise<CredentialGrant>((resolve, reject) => {
      const id = nextRequest++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new SyncError('timeout', `"githubApp": the supervisor did not hand out a token within ${CREDENTIAL_WAIT_MS / 1000}s`));
      }, CREDENTIAL_WAIT_MS);
      waiting.set(id, {
        resolve: (g) => (clearTimeout(timer), resolve(g)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      send({ type: 'credential-request', id, staleGeneration });
    }),
  );
  process.on('message', (raw) => {
    const msg = parseSupervisorMessage(raw);
    if (msg === null) {
      // Most likely an entry that fails our own checks: restarting would not help.
      log.error('malformed message from supervisor; exiting', {});
      process.exit(EXIT_CONFIG);
    }
    switch (msg.type) {
      case 'configure': {
        if (msg.protocolVersion !== PROTOCOL_VERSION || loop !== null) {
          log.error('protocol mismatch or second configure', { theirs: msg.protocolVersion, ours: PROTOCOL_VERSION });
          process.exit(EXIT_BUG);
        }
        const entry = msg.entry;
        const progress = new SyncProgress(send, log);
        const l = new AgentLoop(entry, new RepoSync(entry, log, (p) => progress.update(p)), send, log, bugHandler(log), progress);
        loop = l;
        // Any message shows we are alive: a heartbeat goes out only after a quiet spell.
        const heartbeat = setInterval(() => {
          if (Date.now() - lastSent >= msg.heartbeatMs * 0.9) send({ type: 'heartbeat', at: Date.now() });
        }, msg.heartbeatMs);
        shutdown = installShutdown(l, log, () => clearInterval(heartbeat));
        if (msg.mode === 'once') l.runOneTime().then((ok) => exitAfterFlush(ok ? 0 : 1), bugHandler(log));
        else l.start().catch(bugHandler(log));
        break;
      }
      case 'sync-now':
        loop?.trigger('sync-now');
        break;
      case 'hold':
        loop?.hold(msg.commits);
        break;
      case 'shutdown':
        if (shutdown !== null) shutdown();
        else process.exit(0);
        break;
      case 'credential': {
        const w = waiting.get(msg.id);
        waiting.delete(msg.id);
        if (msg.grant !== null) w?.resolve(msg.grant);
        else w?.reject(new SyncError(msg.error?.kind ?? 'auth', msg.error?.message ?? 'no credential'));
        break;
      }
      default: {
        const _never: never = msg;
        void _never;
      }
    }
  });
  // Without a supervisor nobody reads our reports or stops us: leave with it, at once, taking
  // any git still running for us along (it runs in a process group of its own). This holds in
  // every state: before 'configure' (no loop yet), during start-up and while a sync runs.
  let leaving = false;
  const leave = () => {
    if (leaving) return;
    leaving = true;
    const dirs = loop?.ownedDirs() ?? [];
    void killLeftoverGit(dirs).finally(() => process.exit(0));
  };
  process.on('disconnect', leave);
  // Node has no prctl(PR_SET_PDEATHSIG): should the channel's end ever outlive the supervisor
  // (inherited by a process that survived it), a changed parent pid still tells us it is gone.
  // One getppid() a second costs nothing measurable.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) leave();
  }, PARENT_CHECK_MS).unref();
}


/** Run on its own (tests, debugging, one-time init containers). */
export async function runStandaloneAgent(raw: unknown, defaults: AgentDefaults, once: boolean): Promise<void> {
  const { resolveEntry } = await import('../shared/listing-schema.js');
  const { createLogger } = await import('../shared/logger.js');
  const result = resolveEntry(raw, 0, defaults);
  if ('errors' in result) {
    const log = createLogger({ component: 'agent' });
    for (const e of result.errors) log.error('invalid entry', { error: e.message });
    process.exit(EXIT_CONFIG);
  }
  const entry: ResolvedEntry = result.entry;
  const log = createLogger({ repo: entry.name });
  const app = entry.credentials.githubApp;
  if (app !== undefined) {
    const { githubAppTokens } = await import('../supervisor/github-app.js');
    setCredentialChannel((stale) => githubAppTokens.grant(app, stale, log));
  }
  const progress = new SyncProgress(() => undefined, log);
  const loop = new AgentLoop(entry, new RepoSync(entry, log, (p) => progress.update(p)), () => undefined, log, bugHandler(log), progress);
  if (once) {
    const ok = await loop.runOneTime().catch(bugHandler(log));
    process.exit(ok === true ? 0 : 1);
  }
  installShutdown(loop, log);
  await loop.start().catch(bugHandler(log));
}
