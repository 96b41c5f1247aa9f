// Serialises agents that share one object store. The lock is a kernel flock held by a small
// `flock … cat` child whose stdin is our pipe: when the agent dies, even by SIGKILL, the pipe
// closes, cat exits and the kernel drops the lock. No stale-lock guessing (pids, hostnames,
// mtimes) is needed, so a killed agent can never leave the store locked.

import { spawn } from 'node:child_process';
import { SyncError } from '../shared/errors.js';

export interface HeldLock {
  release(): void;
}

/**
 * Take the exclusive lock on `file` (created if missing), waiting at most `waitMs`. `cwd` is
 * where the holder process runs: the agent's own folder, so a restarted agent's sweep of
 * leftover processes (repair.ts) finds it too.
 */
export function acquireStoreLock(file: string, waitMs: number, cwd: string): Promise<HeldLock> {
  return new Promise((resolve, reject) => {
    const waitS = Math.max(1, Math.ceil(waitMs / 1000));
    // `echo` tells us the lock is held; `cat` then holds it until its stdin (our pipe) closes.
    const child = spawn('flock', ['--wait', String(waitS), '--conflict-exit-code', '75', file, 'sh', '-c', 'echo held; exec cat >/dev/null'], {
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    });
    let settled = false;
    let stderr = '';
    const held: HeldLock = {
      release: () => {
        child.stdin.end();
      },
    };
    child.stdout.once('data', () => {
      settled = true;
      // The holder's pipes must not keep the agent alive or fill up.
      child.stdout.resume();
      resolve(held);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new SyncError('local-state', `cannot lock the shared object store (${file}): ${err.message}`));
    });
    child.once('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(
        code === 75
          ? new SyncError('timeout', `the shared object store ${file.replace(/\/[^/]+$/, '')} stayed locked by another entry's agent for ${waitS}s; will retry`)
          : new SyncError('local-state', `cannot lock the shared object store (${file}): flock exited ${code ?? 'on a signal'}${stderr.trim() === '' ? '' : `: ${stderr.trim().slice(0, 200)}`}`),
      );
    });
  });
}
