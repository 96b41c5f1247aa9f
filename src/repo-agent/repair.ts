// Heals what a killed agent or git leaves behind: git processes still running in our folders,
// stale lock files, and git state too damaged to use.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, sep } from 'node:path';

/**
 * Kill git processes (and their ssh children) still working in `dirs`: left by an agent that was
 * killed mid-command, they would race us for lock files. A process is ours when its working
 * directory lies inside one of our folders, since every git command we run starts there.
 */
export async function killLeftoverGit(dirs: string[]): Promise<number[]> {
  const killed: number[] = [];
  if (dirs.length === 0) return killed;
  // Every agent walks every process when it starts, so the walk grows with the number of agents
  // (each agent and its entry lock's two helpers): read synchronously, /proc answers from memory.
  // Measured with 1,594 processes (what 500 entries run), agents' flags, load 4-7: awaiting each
  // read, 78-187 ms of CPU per walk; synchronous, 14.5-15.4 ms (held loop included).
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return killed; // no /proc: nothing we can do safely
  }
  const ownGroup = processGroup(process.pid);
  for (const pidText of pids) {
    const pid = Number(pidText);
    if (pid === process.pid) continue;
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue; // gone meanwhile, or not ours to look at
    }
    if (!dirs.some((d) => cwd === d || cwd.startsWith(d + sep))) continue;
    const group = processGroup(pid);
    try {
      // The deadline wrapper gives each git command its own group: kill the whole of it.
      if (group !== null && group !== ownGroup && group > 1) process.kill(-group, 'SIGKILL');
      else process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // already gone
    }
  }
  return killed;
}

function processGroup(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the parenthesised command name: state ppid pgrp ...
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(rest[2]);
  return Number.isInteger(pgrp) ? pgrp : null;
}

/**
 * Remove lock files a killed git left; only called once no git of ours is running. `skip`
 * names top-level folders whose locks belong to someone else (in a shared store, `worktrees`:
 * other entries check out there without holding the store's lock).
 */
export async function removeStaleLocks(gitDir: string, skip: string[] = []): Promise<string[]> {
  const removed: string[] = [];
  async function walk(dir: string, depth: number): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isFile() && e.name.endsWith('.lock')) {
        await rm(p, { force: true });
        removed.push(p);
      } else if (e.isDirectory() && depth < 6 && e.name !== 'objects' && !(depth === 0 && skip.includes(e.name))) {
        await walk(p, depth + 1);
      }
    }
  }
  await walk(gitDir, 0);
  return removed;
}

/** A temporary object or pack git writes while fetching (tmp_obj_*, tmp_pack_*, tmp_idx_*, .tmp-*). */
const FETCH_TEMP = /^(?:tmp_|\.tmp-)/;

/**
 * After a failed fetch: remove the partial objects and packs it left in `gitDir`'s objects (on a
 * full disk, a pack cut short stays as a tmp_pack_* as large as what was received, and starves
 * every other entry on the volume). Only call this where no other git may be writing objects:
 * in a shared store, holding the store's lock.
 */
export async function removeFetchLeftovers(gitDir: string): Promise<string[]> {
  const objects = join(gitDir, 'objects');
  const removed: string[] = [];
  const sweep = async (dir: string) => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!FETCH_TEMP.test(name)) continue;
      await rm(join(dir, name), { recursive: true, force: true });
      removed.push(join(dir, name));
    }
  };
  await sweep(objects);
  for (const name of await readdir(objects).catch(() => [] as string[])) {
    if (name === 'pack' || /^[0-9a-f]{2}$/.test(name)) await sweep(join(objects, name));
  }
  return removed;
}
