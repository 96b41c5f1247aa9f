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
