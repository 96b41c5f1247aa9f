// A process's CPU time and memory as the kernel accounts them (/proc), the way ps and smem read
// them, so agent and baseline are measured by the same ruler.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second, the unit of the CPU fields in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim());
  if (!Number.isInteger(hz) || hz <= 0) throw new Error(`getconf CLK_TCK gave ${JSON.stringify(hz)}`);
  return hz;
}

export interface CpuTicks {
  /** utime, stime: the process itself. */
  user: number;
  system: number;
  /** cutime, cstime: children it has waited for (git and its wrapper, once each command ended). */
  childrenUser: number;
  childrenSystem: number;
}

export function readCpuTicks(pid: number | 'self'): CpuTicks {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/${pid}/stat: field ${n} is not a number`);
    return v;
  };
  return { user: field(14), system: field(15), childrenUser: field(16), childrenSystem: field(17) };
}

export interface Memory {
  rssKb: number;
  pssKb: number;
  privateCleanKb: number;
  privateDirtyKb: number;
  sharedCleanKb: number;
  anonymousKb: number;
}

export function readMemory(pid: number): Memory {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (m === null) throw new Error(`/proc/${pid}/smaps_rollup has no ${name} line`);
    return Number(m[1]);
  };
  return {
    rssKb: kb('Rss'),
    pssKb: kb('Pss'),
    privateCleanKb: kb('Private_Clean'),
    privateDirtyKb: kb('Private_Dirty'),
    sharedCleanKb: kb('Shared_Clean'),
    anonymousKb: kb('Anonymous'),
  };
}

export const privateKb = (m: Memory): number => m.privateCleanKb + m.privateDirtyKb;

/** Direct children of `pid`. The kernel lists a child under the thread that forked it: every thread's list is read. */
export function childrenOf(pid: number): number[] {
  const out = new Set<number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  for (const task of tasks) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const c of text.trim().split(/\s+/)) if (c !== '') out.add(Number(c));
  }
  return [...out].sort((a, b) => a - b);
}

/** The supervisor's agent processes: its children running `--agent` (git and hooks run under the agents, not here). */
export function agentPids(supervisor: number): number[] {
  return childrenOf(supervisor).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--agent');
    } catch {
      return false;
    }
  });
}
