// The daemon's private folder for credentials it mints or fetches (GitHub App installation
// tokens, askpass-url answers): on tmpfs when there is one, so a token never reaches a disk, mode
// 0700 with 0600 files, made by the supervisor and removed when it stops.

import { lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Set by the supervisor for its agents, which inherit its environment. A path, never a secret. */
export const RUNTIME_DIR_ENV = 'GIT_AUTOSYNC_RUNTIME_DIR';

let created: string | null = null;

/** /dev/shm when it is a writable folder (Linux, Kubernetes pods), else the temp folder. */
function base(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) {
      const probe = mkdtempSync('/dev/shm/git-autosync-');
      rmSync(probe, { recursive: true });
      return '/dev/shm';
    }
  } catch {
    // not there, or not writable
  }
  return tmpdir();
}

/**
 * The folder: the one named in the environment (an agent under a supervisor), else one made now
 * (`<base>/git-autosync-XXXXXX`, 0700 as mkdtemp makes it) and announced to child processes.
 */
export function runtimeDir(): string {
  const inherited = process.env[RUNTIME_DIR_ENV];
  if (inherited !== undefined && inherited.startsWith('/')) return inherited;
  if (created === null) {
    const dir = base();
    sweepDead(dir);
    // Our pid in the name: a successor can tell a dead daemon's folder from a live one's.
    created = mkdtempSync(join(dir, `git-autosync-${process.pid}-`));
    process.env[RUNTIME_DIR_ENV] = created;
    // However the process ends in an orderly way (SIGTERM, one-time run, an agent alone), it goes.
    process.once('exit', removeRuntimeDir);
  }
  return created;
}

/**
 * A daemon killed with SIGKILL cannot remove its folder: the next one started here removes the
 * folders of daemons that are gone (their pid is not running; ours only, by owner), so tokens do
 * not pile up in /dev/shm across restarts.
 */
function sweepDead(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = /^git-autosync-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (m === null || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    const path = join(dir, name);
    try {
      const info = lstatSync(path);
      if (!info.isDirectory() || (uid !== undefined && info.uid !== uid)) continue;
      rmSync(path, { recursive: true, force: true });
    } catch {
      // gone already, or not ours to remove
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove the folder this process made (at exit); agents under a supervisor leave it to the supervisor. */
export function removeRuntimeDir(): void {
  if (created === null) return;
  rmSync(created, { recursive: true, force: true });
  created = null;
  delete process.env[RUNTIME_DIR_ENV];
}

/** Write a secret file atomically (0600, in a 0700 folder): a reader sees the old or the new one. */
export async function writePrivateFile(dir: string, name: string, content: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, name);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return file;
}
