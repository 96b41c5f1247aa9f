// Faults injected from outside the daemon, as kubernetes/git-sync's e2e suite does: a `git`
// wrapper first on PATH, and a look at which processes still work in a folder.

import { readlinkSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { processesWhere } from './process.js';

/**
 * A `git` first on PATH that stalls in `fetch` while `stallFile` exists (as git-sync's e2e suite does).
 * Its pid appears in `stalledFile` whole (written aside, then renamed): a reader that saw the file
 * empty took the pid as 0, and kill(0) killed the test's own process group.
 */
export async function stallingGit(root: string, stallFile: string, stalledFile: string): Promise<string> {
  const bin = join(root, 'fakebin');
  await mkdir(bin, { recursive: true });
  await writeFile(
    join(bin, 'git'),
    `#!/bin/sh
for a in "$@"; do
  if [ "$a" = fetch ] && [ -e '${stallFile}' ]; then echo $$ > '${stalledFile}.tmp' && mv '${stalledFile}.tmp' '${stalledFile}'; sleep 120; fi
done
exec /usr/bin/git "$@"
`,
  );
  await chmod(join(bin, 'git'), 0o755);
  return bin;
}

/** PIDs of processes whose working directory is inside `dir`. */
export function processesIn(dir: string): number[] {
  return processesWhere((pid) => {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === dir || cwd.startsWith(dir + sep);
  });
}

/** True while a process with this PID exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
