// A reader in its own process that resolves the published path once per read, then reads two
// files that every commit writes with the same value: any difference is a torn read. It also
// records what `lstat(path)` found at each sample. Used by the symlink and exchange torn-read tests.

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import type { Cleanup } from './tmp.js';

// `realpath`: resolve the symlink to its tree, then read inside it (symlink mode).
// `chdir`: enter the directory at the path, then read relative to it; the process's cwd holds
// that directory however `path` is swapped meanwhile (exchange mode, where path is the tree).
const READER = `
const fs = require('node:fs');
const [path, stopFile, how] = process.argv.slice(1);
let reads = 0, mismatches = 0, missing = 0, notDirectory = 0, absent = 0;
const seen = new Set();
while (!fs.existsSync(stopFile)) {
  let dir;
  try {
    if (how === 'chdir') {
      if (!fs.lstatSync(path).isDirectory()) notDirectory++;
      process.chdir(path); dir = '.';
    } else dir = fs.realpathSync(path);
  } catch { absent++; continue; } // not published yet
  try {
    const a = fs.readFileSync(dir + '/a.txt', 'utf8');
    const b = fs.readFileSync(dir + '/sub/b.txt', 'utf8');
    reads++; seen.add(a);
    if (a !== b) mismatches++;
  } catch { missing++; }
}
process.stdout.write(JSON.stringify({ reads, mismatches, missing, notDirectory, absent, distinct: seen.size }));
`;

export interface TornReadCounts {
  reads: number;
  mismatches: number;
  missing: number;
  /** Samples where lstat(path) found something other than a directory (chdir only). */
  notDirectory: number;
  /** Samples where path could not be resolved at all. */
  absent: number;
  distinct: number;
}

export function startTornReader(t: Cleanup, path: string, stopFile: string, how: 'realpath' | 'chdir'): { stop(): Promise<TornReadCounts> } {
  return startReaderProcess<TornReadCounts>(t, READER, [path, stopFile, how], stopFile);
}

/**
 * Runs `script` (node -e) with `args` until `stopFile` exists; stop() creates it and resolves with
 * the JSON the script printed. A reader in a process of its own reads as an app would, unslowed
 * by the test's event loop.
 */
export function startReaderProcess<T>(t: Cleanup, script: string, args: readonly string[], stopFile: string): { stop(): Promise<T> } {
  // stderr not inherited: a reader left behind must never hold the runner's output open (it once
  // hung `npm test` after its summary); support/children.ts kills it by pid should the test time out.
  const reader = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => reader.kill('SIGKILL'));
  reader.stderr.resume();
  let out = '';
  reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<void>((resolve) => reader.on('exit', () => resolve()));
  return {
    async stop() {
      await writeFile(stopFile, '');
      await done;
      return JSON.parse(out) as T;
    },
  };
}
