// How far the sync under way is, passed on to the supervisor at most once a second, and a log
// line every 10 s for syncs that last longer than that (a long first clone says it is alive).

import type { Log } from '../shared/log.js';
import type { AgentMessage, FetchProgress } from '../shared/protocol.js';

/** At most one progress message per this long: git updates its counters many times a second. */
export const PROGRESS_EVERY_MS = 1_000;
/** A sync running longer than this logs how far it is, and again after each such spell. */
export const PROGRESS_LOG_EVERY_MS = 10_000;

export class SyncProgress {
  private latest: FetchProgress | null = null;
  private lastSent = 0;
  /** A send held back by the once-a-second limit, so the last figure still goes out. */
  private held: NodeJS.Timeout | null = null;
  private logTimer: NodeJS.Timeout | null = null;
  private active = false;

  constructor(
    private readonly report: (m: AgentMessage) => void,
    private readonly log: Log,
    private readonly everyMs = PROGRESS_EVERY_MS,
    private readonly logEveryMs = PROGRESS_LOG_EVERY_MS,
  ) {}

  /** A sync starts: nothing known yet. */
  begin(): void {
    this.end();
    this.active = true;
    const started = Date.now();
    let ticks = 0;
    this.logTimer = setInterval(() => {
      const p = this.latest;
      // Timers count from the event loop's cached clock, which lags Date.now(): the first tick
      // came 9,999 ms after `started` once (CI). The n-th tick is n intervals in, at least.
      ticks += 1;
      const elapsedMs = Math.max(Date.now() - started, ticks * this.logEveryMs);
      this.log.info('sync in progress', { elapsedMs, phase: p?.phase ?? null, percent: p?.percent ?? null, bytes: p?.bytes ?? null });
    }, this.logEveryMs);
  }

  /** git said how far it is (git-progress.ts). Ignored outside a sync. */
  update(p: FetchProgress): void {
    if (!this.active) return;
    this.latest = p;
    if (this.held !== null) return;
    const wait = this.lastSent + this.everyMs - Date.now();
    if (wait <= 0) this.send();
    else this.held = setTimeout(() => this.send(), wait);
  }

  /**
   * The sync is over: nothing more is sent for it. Called before its outcome is reported, so no
   * progress message ever follows the outcome and brings back a finished sync's progress.
   */
  end(): void {
    this.active = false;
    this.latest = null;
    if (this.held !== null) clearTimeout(this.held);
    if (this.logTimer !== null) clearInterval(this.logTimer);
    this.held = null;
    this.logTimer = null;
  }

  private send(): void {
    this.held = null;
    if (!this.active || this.latest === null) return;
    this.lastSent = Date.now();
    this.report({ type: 'progress', progress: this.latest });
  }
}
