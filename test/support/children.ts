// Every child process a test file starts, by pid, so none outlives the file: when the test process
// exits or is told to stop (SIGTERM/SIGINT/SIGHUP, as test/run.mjs does on a file's deadline), each
// child still running is killed by its pid, and one started in its own process group (detached)
// with its whole group. Imported for its effect by tmp.ts, which every test uses.
//
// Why: a timed-out torn-read test left its reader child (`node -e … stop-reader`) spinning after
// the run, holding the runner's stderr open, and `npm test` hung 6 minutes after its summary.
// Patching ChildProcess.prototype.spawn catches every way a child is made (spawn, fork, execFile,
// and the code under test running in-process), without each call site having to remember.

import { ChildProcess } from 'node:child_process';

const live = new Map<number, { group: boolean }>();

// spawn() is public in node but missing from @types/node's ChildProcess.
type SpawnOptions = { detached?: boolean };
type Spawn = (this: ChildProcess, options: SpawnOptions) => unknown;
const marker = Symbol.for('git-autosync.test.children');
const proto = ChildProcess.prototype as unknown as Record<symbol, boolean> & { spawn: Spawn };
const original = proto.spawn;
if (!proto[marker]) {
  proto[marker] = true;
  proto.spawn = function (this: ChildProcess, options: SpawnOptions) {
    const result = original.call(this, options);
    const pid = this.pid;
    if (pid !== undefined) {
      live.set(pid, { group: options.detached === true });
      this.once('exit', () => live.delete(pid));
    }
    return result;
  };
  process.once('exit', killAll);
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(code);
    });
  }
}

/** Pids of this process's children still running (for tests of the support code). */
export function liveChildren(): number[] {
  return [...live.keys()];
}

function killAll(): void {
  for (const [pid, { group }] of live) {
    for (const target of group ? [-pid, pid] : [pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}
