// The daemon's private folder for credentials it mints or fetches (GitHub App installation
// tokens, askpass-url answers): on tmpfs when there is one, so a token never reaches a disk, mode
// 0700 with 0600 files, made by the supervisor and removed when it stops.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
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
    created = mkdtempSync(join(base(), 'git-autosync-'));
    process.env[RUNTIME_DIR_ENV] = created;
    // However the process ends in an orderly way (SIGTERM, one-time run, an agent alone), it goes.
    process.once('exit', removeRuntimeDir);
  }
  return created;
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
