// What a bench records about where it ran, so figures from different runs can be compared:
// the machine, its load at the start, and exactly which source and build were measured.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round } from './stats.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return 'unknown';
  }
}

/** A hash of the built daemon: the figures belong to this build, whatever the source says. */
export function distFingerprint(): string {
  let files: string[];
  try {
    files = (readdirSync(DIST, { recursive: true }) as string[]).filter((f) => f.endsWith('.js')).sort();
  } catch {
    return 'no build';
  }
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f}\0`).update(readFileSync(join(DIST, f)));
  return `${hash.digest('hex').slice(0, 16)} (${files.length} files)`;
}

export function benchEnvironment() {
  const cpu = cpus();
  return {
    node: process.version,
    git: run('git', ['--version']),
    kernel: release(),
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryMb: Math.round(totalmem() / 2 ** 20),
    // Checkouts create thousands of files, and du counts blocks: the file system matters.
    tmpdir: tmpdir(),
    tmpdirFileSystem: run('stat', ['-f', '-c', '%T', tmpdir()]),
    // Other work on the machine (a test run, say) shows up as noise in every figure.
    loadAverageAtStart: loadavg().map((x) => round(x, 2)),
    source: {
      commit: run('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD']),
      uncommittedChanges: run('git', ['-C', REPO_ROOT, 'status', '--porcelain']).split('\n').filter((l) => l !== '' && l !== 'unknown').length,
      dist: distFingerprint(),
    },
  };
}

export type BenchEnvironment = ReturnType<typeof benchEnvironment>;
