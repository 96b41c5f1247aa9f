// A `git` placed first on PATH that logs when each command starts and ends, then runs the real
// git. For one diagnostic run only: it shows how much of a sync is git itself and how much lies
// between git commands (node, simple-git, the deadline wrapper). The shim's own `date` calls add
// about a millisecond per command.

import { execFileSync } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TracedCommand {
  /** Milliseconds since the epoch. */
  startMs: number;
  endMs: number;
  /** argv after `git`, without the `-c name=value` pairs the agent puts first. */
  args: string[];
}

export interface GitTrace {
  /** PATH with the shim first, for the traced process's environment. */
  path: string;
  read(): Promise<TracedCommand[]>;
}

export async function installGitTrace(dir: string): Promise<GitTrace> {
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8', timeout: 5_000 }).trim();
  if (realGit === '' || realGit.startsWith(dir)) throw new Error(`cannot find the real git (got "${realGit}")`);
  const log = join(dir, 'git-trace.log');
  // The agent passes git only a fixed set of variables, so the log path is written into the shim.
  const shim = [
    '#!/bin/sh',
    's=$(date +%s%N)',
    `'${realGit}' "$@"`,
    'rc=$?',
    'e=$(date +%s%N)',
    `printf '%s %s %s\\n' "$s" "$e" "$*" >> '${log}'`,
    'exit $rc',
    '',
  ].join('\n');
  await writeFile(join(dir, 'git'), shim);
  await chmod(join(dir, 'git'), 0o755);
  await writeFile(log, '');
  return {
    path: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    async read() {
      const lines = (await readFile(log, 'utf8')).split('\n').filter((l) => l.trim() !== '');
      return lines.map((line) => {
        const [s, e, ...argv] = line.split(' ');
        const args: string[] = [];
        for (let i = 0; i < argv.length; i++) {
          if (argv[i] === '-c') i++;
          else args.push(argv[i]!);
        }
        return { startMs: Number(s) / 1e6, endMs: Number(e) / 1e6, args };
      });
    },
  };
}
