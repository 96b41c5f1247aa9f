// One agent owns an entry's state: two daemons started on the same listing and volume would
// otherwise fetch, reset and kill each other's git as "leftovers". The owner holds a kernel
// flock (store-lock.ts: it dies with its holder, so a killed daemon's entry is free at once) and
// writes its pid beside it, so whoever is refused can say who holds the entry.

import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { Layout } from '../shared/layout.js';
import { holdFlock, type HeldLock } from './store-lock.js';

export type EntryLock = HeldLock;

/** In the state folder: the pid of the agent holding the entry, and its supervisor's. */
export const HOLDER_FILE = 'agent.pid';

/** A refused entry is retried at least this often, so it is taken over soon after its holder dies. */
export const LOCKED_RETRY_CAP_MS = 30_000;

/** The entry is held by another live agent (another daemon on the same volume). */
export class EntryLockedError extends SyncError {
  constructor(
    message: string,
    readonly holderPid: number | null,
  ) {
    super('local-state', message);
  }
}

/**
 * Take the entry's lock, on the folder `target` (the publisher's home), without waiting. Symlink
 * mode locks the state folder beside `path`; in place, `path` itself (its parent may not be
 * writable, and the state folder lives inside the clone, which may not exist yet). Throws
 * EntryLockedError when another agent holds it.
 */
export async function lockEntry(layout: Layout, target: string): Promise<EntryLock> {
  await mkdir(target, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new SyncError('local-state', `cannot create ${target} to lock the entry: ${err.code ?? err.message}`);
  });
  // The holder runs in `/`: never inside our folders, where our own sweep of leftover git
  // processes (repair.ts) would take it for a predecessor's and kill it.
  let outcome = await holdFlock(target, 'no-wait', '/');
  // Our predecessor (a restart, a changed entry) has exited but its holder has not seen the pipe
  // close yet: the lock is about to drop, so ask again for a moment rather than fail.
  for (let i = 0; outcome.kind === 'busy' && i < PREDECESSOR_TRIES && !(await holderAlive(layout.stateDir)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    outcome = await holdFlock(target, 'no-wait', '/');
  }
  if (outcome.kind === 'busy') {
    const holder = (await readHolder(layout.stateDir)) ?? (await holderFromKernel(target));
    const who = holder === null ? 'another git-autosync agent' : `git-autosync agent pid ${holder.pid}${holder.supervisor === null ? '' : ` (daemon pid ${holder.supervisor})`}`;
    throw new EntryLockedError(
      `${target} is locked by ${who}: another daemon syncs this entry on the same volume. Leaving it alone; taking over when it stops`,
      holder?.pid ?? null,
    );
  }
  if (outcome.kind === 'error') throw new SyncError('local-state', `cannot lock ${target}: ${outcome.message}`);
  // In place, the state folder comes with the first clone: before it, holderFromKernel names us.
  await writeFile(join(layout.stateDir, HOLDER_FILE), `${process.pid}\n${process.ppid}\n`).catch(() => undefined);
  return outcome.lock;
}

/** Up to 2 s (20 × 100 ms) for a dead holder's lock to drop. */
const PREDECESSOR_TRIES = 20;

/** False when the pid written in the holder file is gone (true when unknown: assume alive). */
async function holderAlive(stateDir: string): Promise<boolean> {
  const holder = await readHolder(stateDir);
  if (holder === null || holder.pid === process.pid) return holder === null;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(stateDir: string): Promise<{ pid: number; supervisor: number | null } | null> {
  const text = await readFile(join(stateDir, HOLDER_FILE), 'utf8').catch(() => '');
  const [pid, supervisor] = text.split('\n').map((s) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : null));
  return pid === null || pid === undefined ? null : { pid, supervisor: supervisor ?? null };
}

/**
 * The holder as the kernel knows it: the `flock` process holding a lock on `target`'s inode
 * (/proc/locks) is the child of the agent, whose parent is its supervisor. Used when the holder
 * has not written its pid yet; null when the kernel shows us no such process (another pid
 * namespace, say).
 */
async function holderFromKernel(target: string): Promise<{ pid: number; supervisor: number | null } | null> {
  const inode = await stat(target).then((s) => s.ino, () => null);
  const locks = await readFile('/proc/locks', 'utf8').catch(() => '');
  for (const line of locks.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 32078 fe:00:2151859 0 EOF": pid, then major:minor:inode.
    const m = /^\d+: FLOCK\s+ADVISORY\s+WRITE\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
    if (m === null || Number(m[2]) !== inode || m[1] === '0') continue;
    const pid = await parentOf(Number(m[1]));
    if (pid !== null) return { pid, supervisor: await parentOf(pid) };
  }
  return null;
}

async function parentOf(pid: number): Promise<number | null> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (text === null) return null;
  // Fields after the parenthesised command name: state ppid ...
  const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(ppid) && ppid > 1 ? ppid : null;
}
