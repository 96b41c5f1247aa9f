// A child cgroup for a test (we run as root in CI): a process limit (pids) or a CPU limit (cpu)
// applied to a daemon the test started. cgroup v2 or v1, whichever the machine mounts; null
// with the reason when neither can be written, so the test can skip saying why.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cleanup } from './tmp.js';

export interface TestCgroup {
  readonly dir: string;
  /** Move a process (all its threads) in; its children are born in the group. */
  add(pid: number): void;
  /** Tasks (threads) in the group now (pids controller). */
  pidsCurrent(): number;
  setPidsMax(max: number | 'max'): void;
  /** `cores` CPUs at most (e.g. 0.2). */
  setCpuMax(cores: number): void;
}

type Controller = 'pids' | 'cpu';

/** Where a child cgroup with `controller` can be made, or why it cannot. */
function base(controller: Controller): { root: string; v2: boolean } | { skip: string } {
  const v2 = '/sys/fs/cgroup/cgroup.controllers';
  if (existsSync(v2)) {
    if (!readFileSync(v2, 'utf8').split(/\s+/).includes(controller)) return { skip: `cgroup v2 has no ${controller} controller` };
    try {
      writeFileSync('/sys/fs/cgroup/cgroup.subtree_control', `+${controller}`);
    } catch {
      // Already enabled, or a root cgroup with processes in it: mkdir below tells.
    }
    return { root: '/sys/fs/cgroup', v2: true };
  }
  const v1 = controller === 'pids' ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup/cpu';
  if (existsSync(join(v1, 'cgroup.procs'))) return { root: v1, v2: false };
  return { skip: `no cgroup ${controller} controller mounted under /sys/fs/cgroup` };
}

export function makeCgroup(t: Cleanup, controller: Controller): TestCgroup | { skip: string } {
  const b = base(controller);
  if ('skip' in b) return b;
  const dir = join(b.root, `gas-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    // Never recursive: the parent must be a cgroup. The controller's files must then appear in it.
    mkdirSync(dir);
  } catch (err) {
    return { skip: `cannot create a cgroup under ${b.root} (${(err as NodeJS.ErrnoException).code ?? String(err)}): not root, or cgroups mounted read-only` };
  }
  const file = controller === 'pids' ? 'pids.max' : b.v2 ? 'cpu.max' : 'cpu.cfs_quota_us';
  if (!existsSync(join(dir, file))) {
    rmdirSync(dir);
    return { skip: `the ${controller} controller is not enabled in ${b.root}` };
  }
  t.after(() => {
    // Whatever is left goes back to the parent group, so the group can be removed.
    const left = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '');
    for (const pid of left) {
      try {
        writeFileSync(join(b.root, 'cgroup.procs'), pid);
      } catch {
        // exited meanwhile
      }
    }
    try {
      rmdirSync(dir);
    } catch {
      // a process still exiting: the kernel frees the group with it
    }
  });
  return {
    dir,
    add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
    pidsCurrent: () => Number(readFileSync(join(dir, 'pids.current'), 'utf8').trim()),
    setPidsMax: (max) => writeFileSync(join(dir, 'pids.max'), String(max)),
    setCpuMax: (cores) => {
      const period = 100_000;
      const quota = Math.max(1000, Math.round(cores * period));
      if (b.v2) writeFileSync(join(dir, 'cpu.max'), `${quota} ${period}`);
      else {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), String(period));
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
      }
    },
  };
}
