// What a bench run starts (servers, agents, temp dirs) registers its undo here, and close() undoes
// it newest first: on success, on error and on Ctrl-C alike. It has the shape of node:test's
// `t.after`, so the test fixtures (makeTempDir, startGitDaemon) accept it as their context.

import type { Cleanup } from '../../test/support/tmp.js';

export class Scope implements Cleanup {
  private readonly undo: Array<() => unknown> = [];

  after(fn: () => unknown): void {
    this.undo.push(fn);
  }

  /** A scope of its own (one run of a figure) that is also closed with this one if still open. */
  child(): Scope {
    const c = new Scope();
    this.after(() => c.close());
    return c;
  }

  /** Runs every undo step once, newest first; a failing step is reported and the rest still run. */
  async close(): Promise<void> {
    for (let fn = this.undo.pop(); fn !== undefined; fn = this.undo.pop()) {
      try {
        await fn();
      } catch (err) {
        console.error(`bench cleanup: a step failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

/**
 * Runs a bench's `main` in `scope`, then exits with its code once everything the bench started
 * is undone: on success, on failure, past `watchdogMs` (every wait has its own bound; this
 * catches whatever slips through them all), and on Ctrl-C or SIGTERM. The signals are heard
 * with `on`, not `once`: Ctrl-C reaches the process twice (from the terminal, and relayed by
 * tsx), and a second one with no listener left would kill it before the clean-up is done.
 */
export function runToCompletion(scope: Scope, name: string, watchdogMs: number, main: () => Promise<number | void>): void {
  let closing: Promise<void> | null = null;
  const closeAndExit = (code: number) => {
    closing ??= scope.close().finally(() => process.exit(code));
  };
  const watchdog = setTimeout(() => {
    console.error(`${name}: still running after ${Math.round(watchdogMs / 1000)} s; cleaning up and giving up`);
    closeAndExit(1);
  }, watchdogMs);
  const interrupted = (code: number) => () => {
    if (closing === null) console.error(`${name}: interrupted; stopping everything it started`);
    closeAndExit(code);
  };
  process.on('SIGINT', interrupted(130));
  process.on('SIGTERM', interrupted(143));
  main().then(
    (code) => {
      clearTimeout(watchdog);
      closeAndExit(code ?? 0);
    },
    (err: unknown) => {
      clearTimeout(watchdog);
      // Once a signal or the watchdog is closing the scope, what fails is the run being torn down.
      if (closing === null) console.error(`${name} failed:`, err);
      closeAndExit(1);
    },
  );
}
