// CPU and memory of whole process trees (a daemon with its agents and their git; a git daemon with
// its upload-packs), from /proc through proc.ts. A tree's CPU is the sum of self + reaped children
// over every live process in it, so the difference of two readings is what the tree used in
// between, whatever started, finished or was reaped meanwhile (a git in flight at the first
// reading comes back whole in the cutime of the process that reaps it). bench/scale.ts keeps a
// per-depth variant of the same walk for its own breakdown.

import { readFileSync } from 'node:fs';
import { childrenOf, readCpuTicks, readMemory } from './proc.js';

/** Every live pid under `roots` (roots included). Our trees are at most five deep; 16 is a guard. */
export function treePids(roots: readonly number[]): number[] {
  const seen = new Set<number>();
  let level = [...roots];
  for (let depth = 0; level.length > 0 && depth < 16; depth++) {
    const next: number[] = [];
    for (const pid of level) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      next.push(...childrenOf(pid));
    }
    level = next;
  }
  return [...seen];
}

/** `read(pid)`, or null when the process is gone (it may exit between listing and reading). */
function ifAlive<T>(pid: number, read: (pid: number) => T): T | null {
  try {
    return read(pid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw err;
  }
}

/** Clock ticks the trees under `roots` have used so far (self and reaped children). */
export function treeTicks(roots: readonly number[]): number {
  let ticks = 0;
  for (const pid of treePids(roots)) {
    const t = ifAlive(pid, readCpuTicks);
    if (t !== null) ticks += t.user + t.system + t.childrenUser + t.childrenSystem;
  }
  return ticks;
}

export interface TreeMemory {
  processes: number;
  pssKb: number;
  rssKb: number;
  /** Processes running `git upload-pack` (what a hub forks per fetch it serves). */
  uploadPacks: number;
}

const isUploadPack = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('upload-pack');

export function treeMemory(roots: readonly number[]): TreeMemory {
  const sum: TreeMemory = { processes: 0, pssKb: 0, rssKb: 0, uploadPacks: 0 };
  for (const pid of treePids(roots)) {
    const m = ifAlive(pid, readMemory);
    if (m === null) continue;
    sum.processes += 1;
    sum.pssKb += m.pssKb;
    sum.rssKb += m.rssKb;
    if (ifAlive(pid, isUploadPack) === true) sum.uploadPacks += 1;
  }
  return sum;
}

/** The larger of each field, for a peak over samples (each field's own peak: they need not coincide). */
export const peakMemory = (a: TreeMemory, b: TreeMemory): TreeMemory => ({
  processes: Math.max(a.processes, b.processes),
  pssKb: Math.max(a.pssKb, b.pssKb),
  rssKb: Math.max(a.rssKb, b.rssKb),
  uploadPacks: Math.max(a.uploadPacks, b.uploadPacks),
});
