// One child per listing entry, supervised the OTP way: one_for_one restarts with exponential
// backoff and jitter, a restart-intensity limit, heartbeats, and a stop that escalates from a
// shutdown message to SIGTERM to SIGKILL. A failed sync is not a crash; only a dead agent is.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backoffDelay } from '../shared/backoff.js';
import type { Log } from '../shared/log.js';
import { answerCredentialRequest } from './github-app.js';
import { EXIT_CONFIG, PROTOCOL_VERSION, parseAgentMessage, type AgentMessage, type AgentMode, type SupervisorMessage } from '../shared/protocol.js';
import type { AgentState } from './child-state.js';
import type { DesiredEntry } from './listing.js';

export type { AgentState } from './child-state.js';

/**
 * What the rest of the supervisor hears about an agent's process, beside its messages: every
 * change of its state, as jest-worker's state-change events, with what the new state needs.
 */
export interface StateChange {
  from: AgentState;
  to: AgentState;
  /** The current process (running), else null. */
  pid: number | null;
  /** Restarts after a death so far. */
  restarts: number;
  /** Why the process ended or could not be started (restarting, crash-looping, gave-up, or stopped on its own). */
  failure: string | null;
  /** When the next start is due (restarting, crash-looping). */
  restartInMs: number | null;
}

export interface AgentOptions {
  log: Log;
  onMessage: (agent: SupervisedAgent, message: AgentMessage) => void;
  onStateChange: (agent: SupervisedAgent, change: StateChange) => void;
  policy?: RestartPolicy;
  /** once: one sync, no restarts (one-time mode). */
  mode?: AgentMode;
  /** The agent's entry point, forked with `--agent` (tests give a fixture). */
  script?: string;
}

export interface RestartPolicy {
  baseMs: number;
  capMs: number;
  /** A run this long counts as stable: the backoff starts over. */
  stableMs: number;
  /** Restart intensity: more than maxRestarts within periodMs means crash-looping. */
  maxRestarts: number;
  periodMs: number;
  /** Also the start-up deadline: an agent that has not said hello this long after it was forked is killed. */
  heartbeatTimeoutMs: number;
  stopGraceMs: number;
}

export const DEFAULT_POLICY: RestartPolicy = {
  baseMs: 1_000,
  capMs: 5 * 60_000,
  stableMs: 60_000,
  maxRestarts: 5,
  periodMs: 60_000,
  heartbeatTimeoutMs: 30_000,
  stopGraceMs: 10_000,
};

/** Delay before restart number `restarts` (1-based): 1 s doubling to the cap, ±20% jitter. */
export function restartDelay(restarts: number, policy: Pick<RestartPolicy, 'baseMs' | 'capMs'>, random: () => number = Math.random): number {
  return backoffDelay(restarts, policy.baseMs, policy.capMs, random);
}

/**
 * What to do after a crash: OTP's restart intensity (more than maxRestarts within periodMs means
 * crash-looping) plus exponential backoff that starts over after a stable run. Past the intensity
 * limit a child is not given up on forever (a remote outage must never stop a repo for good): it
 * waits the full cap between attempts, and is reported as crash-looping.
 */
export function planRestart(
  history: { crashes: number; restartTimes: number[]; startedAt: number },
  now: number,
  policy: RestartPolicy,
  random: () => number = Math.random,
): { delay: number; crashLooping: boolean; crashes: number; restartTimes: number[] } {
  const crashes = (now - history.startedAt >= policy.stableMs ? 0 : history.crashes) + 1;
  const restartTimes = [...history.restartTimes.filter((t) => now - t < policy.periodMs), now];
  const crashLooping = restartTimes.length > policy.maxRestarts;
  return { delay: crashLooping ? policy.capMs : restartDelay(crashes, policy, random), crashLooping, crashes, restartTimes };
}

/**
 * One timer checks every agent's heartbeat, rather than a timer per agent: with a hundred repos
 * that is one wake-up a second instead of a hundred.
 */
const watchdog = (() => {
  const agents = new Set<SupervisedAgent>();
  let sweep: NodeJS.Timeout | null = null;
  return {
    add(agent: SupervisedAgent): void {
      agents.add(agent);
      if (sweep === null) {
        sweep = setInterval(() => {
          const now = Date.now();
          for (const a of agents) a.checkAlive(now);
        }, 1_000);
        sweep.unref();
      }
    },
    delete(agent: SupervisedAgent): void {
      agents.delete(agent);
      if (agents.size === 0 && sweep !== null) {
        clearInterval(sweep);
        sweep = null;
      }
    },
  };
})();

/**
 * Node flags for agents. They spend their life waiting on git, so a small young generation is
 * enough, and V8 may favour size over speed: without --optimize-for-size an agent's heap kept
 * growing with publishes (17 → 23 MB private over 200 publishes, measured), with it it stayed
 * at 14–17 MB. (Not V8's lite mode: it drops WebAssembly, which Node's fetch needs.)
 */
export const AGENT_EXEC_ARGV: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size', '--single-threaded'];

/**
 * Environment defaults for agents (a value the operator set wins). Two malloc arenas instead of
 * glibc's eight per core: an idle agent's threads have next to nothing to allocate. With
 * --single-threaded (no V8 helper threads; an agent's heap is a few MB, so its GC pauses are
 * short), measured at 50 agents: 604 → 571 MB PSS in all, CPU unchanged.
 */
export const AGENT_ENV_DEFAULTS: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

const AGENT_SCRIPT = fileURLToPath(new URL('../cli.js', import.meta.url));

/**
 * Agents between fork and hello at once. Starting Node costs CPU: on a starved node (issue #12:
 * 20 agents in a 0.1-CPU cgroup) agents started all together each take the whole start-up of
 * all of them, miss their deadline together, and each kill adds a start. A few at a time, each
 * gets through quickly; on a normal node the whole start takes about as long either way.
 */
export const STARTS_AT_ONCE = 4;

/** Turns for agents to start: at most STARTS_AT_ONCE from fork to hello, the others queue. */
const startGate = (() => {
  let active = 0;
  const queue: Array<(release: () => void) => void> = [];
  const pump = (): void => {
    while (active < STARTS_AT_ONCE && queue.length > 0) {
      const run = queue.shift()!;
      active += 1;
      let released = false;
      run(() => {
        if (released) return;
        released = true;
        active -= 1;
        pump();
      });
    }
  };
  return {
    /** Run `run` in its turn; it calls `release` when its start is over. Returns a cancel. */
    enter(run: (release: () => void) => void): () => void {
      queue.push(run);
      pump();
      return () => {
        const i = queue.indexOf(run);
        if (i >= 0) queue.splice(i, 1);
      };
    },
  };
})();

export class SupervisedAgent {
  private current: AgentState = 'starting';
  pid: number | null = null;
  restarts = 0;
  private child: ChildProcess | null = null;
  private restartTimes: number[] = [];
  private consecutiveCrashes = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private lastHeard = 0;
  private readonly exitListeners: Array<() => void> = [];
  /** Set while waiting for a turn to start (startGate). */
  private leaveStartQueue: (() => void) | null = null;
  /** Why the supervisor killed the current child, if it did. */
  private killReason: string | null = null;

  private readonly log: Log;
  private readonly policy: RestartPolicy;
  private readonly mode: AgentMode;
  private readonly script: string;

  constructor(
    public desired: DesiredEntry,
    private readonly options: AgentOptions,
  ) {
    this.log = options.log;
    this.policy = options.policy ?? DEFAULT_POLICY;
    this.mode = options.mode ?? 'continuous';
    this.script = options.script ?? AGENT_SCRIPT;
  }

  get name(): string {
    return this.desired.entry.name;
  }

  get state(): AgentState {
    return this.current;
  }

  /** Every state change goes through here, and is told once. */
  private setState(to: AgentState, detail: { failure?: string | null; restartInMs?: number | null } = {}): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.options.onStateChange(this, { from, to, pid: this.pid, restarts: this.restarts, failure: detail.failure ?? null, restartInMs: detail.restartInMs ?? null });
    if (to === 'stopped') this.exitListeners.splice(0).forEach((l) => l());
  }

  start(): void {
    this.setState('starting');
    this.leaveStartQueue = startGate.enter((release) => {
      this.leaveStartQueue = null;
      this.spawn(release);
    });
  }

  /** Fork the agent; `release` ends its turn to start (hello, or the end of this child). */
  private spawn(release: () => void): void {
    this.startedAt = Date.now();
    this.killReason = null;
    this.lastHeard = Date.now();
    let child: ChildProcess;
    try {
      // fork() is synchronous and most of what the supervisor does while agents start: 2.9 s
      // of its 4.8 s on the CPU while 100 agents started and published (node --cpu-prof, load
      // 17, 2 cores), about 29 ms each, with the event loop (and /healthz) held meanwhile.
      child = fork(this.script, ['--agent'], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        // Agents run from compiled JavaScript, never through a TypeScript loader (memory).
        execArgv: [...AGENT_EXEC_ARGV],
        env: { ...AGENT_ENV_DEFAULTS, ...process.env },
        serialization: 'json',
      });
    } catch (err) {
      // Node throws for the spawn errors it does not expect at run time (the others arrive as 'error').
      release();
      this.spawnFailed(null, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.child = child;
    if (child.pid === undefined) {
      // fork() itself failed (EAGAIN with the process limit reached, ENOMEM, EMFILE): Node
      // reports it with an 'error' event and no 'exit'. That is an agent failure like a crash,
      // restarted with the same backoff, never a loop of spawns.
      child.once('error', (err) => {
        release();
        this.spawnFailed(child, err);
      });
      return;
    }
    this.pid = child.pid;
    this.log.info('agent process started', { repo: this.name, pid: this.pid, restarts: this.restarts });
    let greeted = false;
    child.on('message', (raw) => {
      // Only the current child may speak for this entry.
      if (this.child !== child) return;
      const msg = parseAgentMessage(raw);
      if (msg === null) {
        this.log.error('malformed message from agent; restarting it', { repo: this.name });
        this.killReason = `agent pid ${child.pid} sent a malformed message; killed it`;
        this.kill(child);
        return;
      }
      this.lastHeard = Date.now();
      if (msg.type === 'hello') {
        if (msg.protocolVersion !== PROTOCOL_VERSION || greeted) {
          this.log.error('agent protocol mismatch; restarting it', { repo: this.name, theirs: msg.protocolVersion, ours: PROTOCOL_VERSION });
          this.killReason = `agent pid ${child.pid} spoke protocol ${msg.protocolVersion}, not ${PROTOCOL_VERSION}; killed it`;
          this.kill(child);
          return;
        }
        greeted = true;
        release();
        this.setState('running');
        // Three heartbeats fit in the timeout, so one late beat is never fatal.
        const heartbeatMs = Math.max(100, Math.min(10_000, Math.floor(this.policy.heartbeatTimeoutMs / 3)));
        this.send(child, { type: 'configure', protocolVersion: PROTOCOL_VERSION, entry: this.desired.entry, mode: this.mode, heartbeatMs });
      }
      if (msg.type === 'log') {
        this.log[msg.level](msg.message, { ...msg.fields, repo: this.name });
        return;
      }
      if (msg.type === 'credential-request') {
        // Minted tokens are shared by all entries of an installation (see github-app.ts).
        void answerCredentialRequest(this.desired.entry, msg.id, msg.staleGeneration, this.log).then((reply) => {
          if (this.child === child) this.send(child, reply);
        });
        return;
      }
      this.options.onMessage(this, msg);
    });
    child.on('exit', (code, signal) => {
      release();
      this.onExit(child, code, signal);
    });
    child.on('error', (err) => this.log.error('agent process error', { repo: this.name, error: err.message }));
    this.checkAlive = (now) => {
      const silentFor = now - this.lastHeard;
      const limit = this.policy.heartbeatTimeoutMs;
      if (this.child !== child || silentFor <= limit || this.killReason !== null) return;
      if (greeted) {
        this.killReason = `agent pid ${child.pid} sent no heartbeat for ${silentFor} ms (HEARTBEAT_TIMEOUT ${limit} ms); killed it`;
        this.log.error('agent stopped sending heartbeats; killing it', { repo: this.name, pid: child.pid, silentMs: silentFor });
      } else {
        // Not a hung agent: one that never got going (a starved CPU, a slow disk).
        this.killReason = `agent pid ${child.pid} did not say hello within ${limit} ms of start (HEARTBEAT_TIMEOUT); killed it`;
        this.log.error('agent did not say hello within the start-up deadline; killing it', { repo: this.name, pid: child.pid, deadlineMs: limit, silentMs: silentFor });
      }
      this.kill(child);
    };
    watchdog.add(this);
  }

  /** Called by the shared watchdog sweep; set per child in start(). */
  checkAlive: (now: number) => void = () => undefined;

  /** Resolves when the agent has exited for good (stopped, or its one sync done). */
  finished(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => this.exitListeners.push(resolve));
  }

  syncNow(reason: string): void {
    if (this.child !== null && this.state === 'running') this.send(this.child, { type: 'sync-now', reason });
  }

  /** A group member: the commits whose trees its group's generations still link (groups.ts). */
  hold(commits: string[]): void {
    if (this.child !== null && this.state === 'running') this.send(this.child, { type: 'hold', commits });
  }

  /** Stop for good: shutdown message, then SIGTERM, then SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.setState('stopping');
    this.leaveStartQueue?.();
    this.leaveStartQueue = null;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      this.clearWatchdog();
      this.setState('stopped');
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.send(child, { type: 'shutdown' });
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.log.warn('agent ignored shutdown; killing it', { repo: this.name, pid: child.pid });
      child.kill('SIGKILL');
    }, this.policy.stopGraceMs);
    await exited;
    clearTimeout(timer);
    this.setState('stopped');
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    const pid = child.pid;
    this.child = null;
    this.pid = null;
    this.clearWatchdog();
    const reason = this.killReason ?? `agent pid ${pid} exited ${signal !== null ? `on ${signal}` : `with code ${code}`}`;
    if (this.current === 'stopping' || this.current === 'stopped' || this.mode === 'once') {
      // Asked to stop, or its one sync done: no failure to report, unless it ended badly on its own.
      this.ended(this.current === 'stopping' || code === 0 ? null : reason);
      return;
    }
    if (code === EXIT_CONFIG) {
      // OTP's rule: giving up on a child is reported (state gave-up in /status and metrics).
      this.log.error('agent refused its entry; not restarting it', { repo: this.name });
      this.setState('gave-up', { failure: reason });
      return;
    }
    this.failed(reason, 'agent exited; restarting it', { pid, code, signal });
  }

  /** fork() failed: no process, so no 'exit' will come. */
  private spawnFailed(child: ChildProcess | null, err: Error): void {
    if (child !== null && this.child !== child) return;
    this.child = null;
    this.pid = null;
    this.clearWatchdog();
    const reason = `agent process could not be started: ${err.message}`;
    if (this.current === 'stopping' || this.current === 'stopped' || this.mode === 'once') {
      this.log.error('agent spawn failed', { repo: this.name, error: err.message });
      this.ended(reason);
      return;
    }
    this.failed(reason, 'agent spawn failed; restarting it', { error: err.message });
  }

  /** Stopped for good (or its one sync is over, in one-time mode). */
  private ended(failure: string | null): void {
    this.setState('stopped', { failure });
  }

  /** An agent failure (a crash, a spawn that failed, a kill for silence): restart with backoff. */
  private failed(reason: string, logMessage: string, fields: Record<string, unknown>): void {
    const plan = planRestart({ crashes: this.consecutiveCrashes, restartTimes: this.restartTimes, startedAt: this.startedAt }, Date.now(), this.policy);
    this.consecutiveCrashes = plan.crashes;
    this.restartTimes = plan.restartTimes;
    const { delay, crashLooping } = plan;
    this.log.error(logMessage, { repo: this.name, ...fields, restartInMs: delay, crashLooping });
    this.setState(crashLooping ? 'crash-looping' : 'restarting', { failure: reason, restartInMs: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.restarts += 1;
      this.start();
    }, delay);
  }

  private kill(child: ChildProcess): void {
    child.kill('SIGKILL');
  }

  private clearWatchdog(): void {
    watchdog.delete(this);
  }

  private send(child: ChildProcess, message: SupervisorMessage): void {
    // The channel may be closing while the child exits; that is reported by the exit handler.
    if (child.connected) child.send(message, (err) => err && this.log.debug('send to agent failed', { repo: this.name, error: err.message }));
  }
}
