// Kernel locks that die with their holder: the shared object store's (agents take turns in it)
// and each entry's (one agent, in one daemon, owns an entry's state). The lock is a kernel flock
// held by a small `flock … cat` child whose stdin is our pipe: when the agent dies, even by
// SIGKILL, the pipe closes, cat exits and the kernel drops the lock. No stale-lock guessing
// (pids, hostnames, mtimes) is needed, so a killed agent can never leave anything locked.

import { spawn } from 'node:child_process';
import { SyncError } from '../shared/errors.js';

export interface HeldLock {
  release(): void;
}

/** Exit status flock gives when the lock is held by someone else (EX_TEMPFAIL). */
const CONFLICT = 75;

type FlockOutcome = { kind: 'held'; lock: HeldLock } | { kind: 'busy' } | { kind: 'error'; message: string };

/**
 * Take the exclusive flock on `file` (a file, created if missing, or a folder): wait at most
 * `waitS` seconds, or not at all (`'no-wait'`). `cwd` is where the holder process runs.
 */
export function holdFlock(file: string, wait: number | 'no-wait', cwd: string): Promise<FlockOutcome> {
  return new Promise((resolve) => {
    const waitArgs = wait === 'no-wait' ? ['--nonblock'] : ['--wait', String(wait)];
    // `echo` tells us the lock is held; `cat` then holds it until its stdin (our pipe) closes.
    const child = spawn('flock', [...waitArgs, '--conflict-exit-code', String(CONFLICT), file, 'sh', '-c', 'echo held; exec cat >/dev/null'], {
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    });
    let settled = false;
    let stderr = '';
    const settle = (outcome: FlockOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    child.stdout.once('data', () => {
      // The holder's pipes must not keep the agent alive or fill up.
      child.stdout.resume();
      settle({ kind: 'held', lock: { release: () => child.stdin.end() } });
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    // A holder that fails to start (EAGAIN with the process limit reached) leaves our end of
    // the pipe to a dead child: without this, writing to it would throw in the agent.
    child.stdin.on('error', () => undefined);
    child.once('error', (err) => settle({ kind: 'error', message: err.message }));
    child.once('exit', (code) => {
      if (code === CONFLICT) settle({ kind: 'busy' });
      else settle({ kind: 'error', message: `flock exited ${code ?? 'on a signal'}${stderr.trim() === '' ? '' : `: ${stderr.trim().slice(0, 200)}`}` });
    });
  });
}

/**
 * Take the exclusive lock on `file` (created if missing), waiting at most `waitMs`. `cwd` is
 * where the holder process runs: the agent's own folder, so a restarted agent's sweep of
 * leftover processes (repair.ts) finds it too.
 */
export async function acquireStoreLock(file: string, waitMs: number, cwd: string): Promise<HeldLock> {
  const waitS = Math.max(1, Math.ceil(waitMs / 1000));
  const outcome = await holdFlock(file, waitS, cwd);
  if (outcome.kind === 'held') return outcome.lock;
  if (outcome.kind === 'busy') {
    throw new SyncError('timeout', `the shared object store ${file.replace(/\/[^/]+$/, '')} stayed locked by another entry's agent for ${waitS}s; will retry`);
  }
  throw new SyncError('local-state', `cannot lock the shared object store (${file}): ${outcome.message}`);
}
