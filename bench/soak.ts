// Soak: N repos on one `git daemon` receive pushes at random for M minutes while one git-autosync
// daemon keeps them synced and a reader in its own process checks, the whole time, that every
// published tree it reads is one whole commit. At the end every repo must be on its remote's head,
// with no torn read, no missing file and no agent restart; supervisor and agent memory are sampled
// from /proc and their growth after warm-up is reported as a least-squares slope. Prints a table and
// writes bench/results/soak-latest.json; exits 1 if a criterion fails.
// Run: `npm run soak -- [--repos N] [--minutes M] [--interval MS] [--mean-push MS] [--sample MS] [--seed S]`
// (or `npx tsx bench/soak.ts ...` on a fresh dist/). test/reliability/soak.test.ts runs a short one.

import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { realpathSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLI } from '../test/support/agent.js';
import { startDaemon, type LogLine, type RunningDaemon } from '../test/support/daemon.js';
import { startGitDaemon } from '../test/support/git-daemon.js';
import { RemoteRepo, type FileChanges } from '../test/support/git-repo.js';
import { stopper } from '../test/support/process.js';
import { publishedCommit } from '../test/support/published.js';
import { makeTempDir, waitFor, type Cleanup } from '../test/support/tmp.js';
import { progressPrinter, requireBuilt } from './support/progress.js';
import { runToCompletion, Scope } from './support/scope.js';
import { benchEnvironment } from './support/environment.js';
import { percentile as nearestRank, roundDeep, seededRandom } from './support/stats.js';
import { agentPids, privateKb, readMemory as readProcMemory } from './support/proc.js';
import { forEachLimited } from './support/limited.js';
import { renderTable } from './support/table.js';
import { readSyncCounts } from './support/counters.js';

export interface SoakOptions {
  repos: number;
  /** How long pushes are expected to go on: each repo makes durationMs / meanPushMs pushes (plannedPushes), however long they take, within pushWindowMs. */
  durationMs: number;
  /** The daemon's SCRAPE_INTERVAL. */
  intervalMs: number;
  /** Mean time between two pushes to one repo (exponentially distributed, so pushes cluster and spread as real ones do). */
  meanPushMs: number;
  /** Memory and /metrics are sampled this often. */
  sampleMs: number;
  /** How long every repo may take to reach its remote's head once pushing stops. */
  convergeTimeoutMs: number;
  /** Seeds the push times, so two runs push alike. */
  seed: number;
  /** How much slower than a quiet machine this one is (the tests' TEST_SLOWDOWN): the minimum
   * counts of pushes and reads are divided by it, as pushing itself slows down. Default 1. */
  slowdown?: number;
  progress?: (line: string) => void;
}

export const DEFAULT_OPTIONS: SoakOptions = {
  repos: 50,
  durationMs: 10 * 60_000,
  intervalMs: 1000,
  meanPushMs: 20_000,
  sampleMs: 10_000,
  convergeTimeoutMs: 120_000,
  seed: 20_241_124,
};

/**
 * Memory counts as flat when the least-squares line over the samples after warm-up grows by at
 * most this share of the warm-up value across that window. A share rather than KB/min, so a short
 * run and a long one are held to the same standard; V8's heap saws up and down by a few hundred KB
 * between collections, which the floor absorbs on short runs.
 */
export const MEMORY_FLAT = { maxGrowthShare: 0.1, floorKb: 1024 } as const;

const REPO_CREATION_CONCURRENCY = 8;
const FILLERS = 5;
const BRANCH = 'main';
/** The reader rests 1 ms after this many reads, so it does not take a whole core from the daemon it watches. */
const READS_PER_PAUSE = 20;
const MAX_SAMPLES = 10_000;

// ---- pure parts ---------------------------------------------------------------------------------

/** An exponentially distributed wait with the given mean (a Poisson process of pushes). */
export function exponentialDelay(meanMs: number, random: () => number): number {
  return -meanMs * Math.log(1 - random());
}

/** Least-squares slope of value over time, per minute; null with fewer than two distinct times. */
export function slopePerMinute(points: ReadonlyArray<{ atS: number; value: number }>): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((s, p) => s + p.atS, 0) / points.length;
  const my = points.reduce((s, p) => s + p.value, 0) / points.length;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.atS - mx) * (p.value - my);
    sxx += (p.atS - mx) ** 2;
  }
  return sxx === 0 ? null : (sxy / sxx) * 60;
}

export interface Push {
  repo: string;
  seq: number;
  commit: string;
  /** Date.now() when `git push` returned. */
  atMs: number;
}

export interface Publish {
  repo: string;
  commit: string;
  /** The daemon's own timestamp on its "published" line. */
  atMs: number;
}

/**
 * For each push, how long until its repo published that commit or a later one. A commit that was
 * overtaken by the next push before the agent polled is never published itself; what a reader cares
 * about is when it saw that push's content or newer. null: never (the repo did not converge).
 */
export function pushToPublishMs(pushes: readonly Push[], publishes: readonly Publish[]): Array<number | null> {
  const seqOf = new Map(pushes.map((p) => [`${p.repo} ${p.commit}`, p.seq]));
  const byRepo = new Map<string, Array<{ seq: number; atMs: number }>>();
  for (const p of publishes) {
    const seq = seqOf.get(`${p.repo} ${p.commit}`);
    if (seq === undefined) continue; // the initial commit
    const list = byRepo.get(p.repo) ?? [];
    list.push({ seq, atMs: p.atMs });
    byRepo.set(p.repo, list);
  }
  for (const list of byRepo.values()) list.sort((a, b) => a.atMs - b.atMs);
  return pushes.map((push) => {
    const hit = byRepo.get(push.repo)?.find((p) => p.seq >= push.seq);
    return hit === undefined ? null : hit.atMs - push.atMs;
  });
}

/** bench/support's nearest-rank percentile, null (not NaN) for no samples: the results file is JSON. */
export function percentile(xs: readonly number[], p: number): number | null {
  return xs.length === 0 ? null : nearestRank(xs, p);
}

// ---- /proc --------------------------------------------------------------------------------------

export interface Memory {
  pssKb: number;
  privateKb: number;
}

function readMemory(pid: number): Memory | null {
  let m;
  try {
    m = readProcMemory(pid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== undefined) return null; // gone
    throw err;
  }
  return { pssKb: m.pssKb, privateKb: privateKb(m) };
}

// ---- the torn-read checker ----------------------------------------------------------------------

// A reader in its own process, as a consumer would be: for each published path in turn it resolves
// the link once, then reads two files that every commit writes with the same value from what it
// resolved. Different values: a torn read. A file missing after the link resolved: a tree removed
// or not yet whole under a reader. It stops when the stop file appears, or at its deadline.
const READER = `
const fs = require('node:fs');
const [stopFile, deadlineArg, perPauseArg, ...paths] = process.argv.slice(1);
const deadline = Number(deadlineArg), perPause = Number(perPauseArg);
const nap = new Int32Array(new SharedArrayBuffer(4));
const perPath = paths.map(() => 0);
let reads = 0, mismatches = 0, missing = 0, unpublished = 0, rounds = 0;
const examples = [], seen = new Set();
const started = Date.now();
while (!fs.existsSync(stopFile) && Date.now() < deadline) {
  rounds++;
  for (let i = 0; i < paths.length; i++) {
    let dir;
    try { dir = fs.realpathSync(paths[i]); } catch { unpublished++; continue; }
    let a, b;
    try {
      a = fs.readFileSync(dir + '/a.txt', 'utf8');
      b = fs.readFileSync(dir + '/sub/b.txt', 'utf8');
    } catch (e) {
      missing++;
      if (examples.length < 10) examples.push({ kind: 'missing', dir, code: e.code });
      continue;
    }
    reads++; perPath[i]++; seen.add(a);
    if (a !== b) {
      mismatches++;
      if (examples.length < 10) examples.push({ kind: 'torn', dir, a, b });
    }
    if (reads % perPause === 0) Atomics.wait(nap, 0, 0, 1);
  }
}
process.stdout.write(JSON.stringify({ reads, mismatches, missing, unpublished, rounds, distinctValues: seen.size,
  minReadsPerPath: Math.min(...perPath), seconds: (Date.now() - started) / 1000, stoppedBy: fs.existsSync(stopFile) ? 'stop file' : 'deadline', examples }));
`;

export interface ReaderResult {
  reads: number;
  mismatches: number;
  missing: number;
  /** Resolutions that failed: the path was not a link (never expected once everything published). */
  unpublished: number;
  rounds: number;
  distinctValues: number;
  minReadsPerPath: number;
  seconds: number;
  stoppedBy: string;
  examples: unknown[];
}

function startReader(scope: Cleanup, paths: readonly string[], stopFile: string, deadlineMs: number) {
  const child = spawn(process.execPath, ['-e', READER, stopFile, String(deadlineMs), String(READS_PER_PAUSE), ...paths], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = stopper(child);
  scope.after(stop);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    pid: child.pid,
    /** Writes the stop file and collects the reader's counts (bounded: it is killed after timeoutMs). */
    async finish(timeoutMs = 15_000): Promise<ReaderResult> {
      await writeFile(stopFile, '');
      // The timer is cancelled once the reader exits, so it holds no one's event loop open.
      const timer = new AbortController();
      const code = await Promise.race([exited, delay(timeoutMs, 'timeout' as const, { signal: timer.signal }).catch(() => 'cancelled' as const)]);
      timer.abort();
      if (code === 'timeout') {
        await stop();
        throw new Error(`the torn-read checker did not stop within ${timeoutMs} ms of its stop file`);
      }
      if (code !== 0) throw new Error(`the torn-read checker exited with ${code}: ${err}`);
      return JSON.parse(out) as ReaderResult;
    },
  };
}

// ---- fixtures -----------------------------------------------------------------------------------

const repoName = (i: number) => `soak-${String(i).padStart(3, '0')}`;

/** Every commit writes a.txt and sub/b.txt with the same value, and rewrites one filler file. */
function pushFiles(value: string, seq: number): FileChanges {
  return { 'a.txt': value, 'sub/b.txt': value, [`filler/f${seq % FILLERS}.txt`]: `${value}\n`.repeat(100) };
}

function initialFiles(value: string): FileChanges {
  const files: FileChanges = { 'a.txt': value, 'sub/b.txt': value, 'README.md': '# soak\n' };
  for (let f = 0; f < FILLERS; f++) files[`filler/f${f}.txt`] = `${value} ${f}\n`.repeat(100);
  return files;
}

/** Sleeps, or returns false at once if `signal` aborts. */
async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await delay(Math.max(0, ms), undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

// ---- the run ------------------------------------------------------------------------------------

export interface MemorySample {
  /** Seconds since pushing started. */
  atS: number;
  supervisor: Memory | null;
  agents: number;
  agentPids: number[];
  agentMeanPssKb: number;
  agentMeanPrivateKb: number;
  agentMaxPrivateKb: number;
  restarts: number | null;
  publishes: number | null;
  syncErrors: number | null;
  metricsError?: string;
}

export interface Criterion {
  name: string;
  observed: string;
  target: string;
  pass: boolean;
}

export interface MemoryTrend {
  atWarmUpKb: number | null;
  atEndKb: number | null;
  slopeKbPerMin: number | null;
  /** The slope times the window it was measured over. */
  growthKb: number | null;
  samples: number;
}

export interface SoakResult {
  options: Omit<SoakOptions, 'progress'>;
  passed: boolean;
  criteria: Criterion[];
  figures: {
    reposConverged: number;
    convergeMs: number | null;
    notConverged: Array<{ repo: string; published: string | null; head: string }>;
    pushes: number;
    /** Sum of git_autosync_sync_total{result="success"}: the first N clones plus every later publish. */
    publishes: number;
    publishesDuringPushes: number;
    publishedLogLines: number;
    syncErrors: number;
    unchangedPolls: number;
    restarts: number;
    reader: ReaderResult;
    readsPerSecond: number;
    pushToPublishMs: { p50: number | null; p95: number | null; max: number | null; neverPublished: number };
    memory: { warmUpAtS: number; supervisorPrivate: MemoryTrend; agentMeanPrivate: MemoryTrend; supervisorPss: MemoryTrend; agentMeanPss: MemoryTrend };
    agentsAppeared: number;
    agentsVanished: number;
    startupMs: number;
    daemonExit: number | string;
    /** warn and error lines of the daemon, counted by message. */
    logProblems: Record<string, number>;
    logProblemExamples: LogLine[];
    loadAverage: { start: number[]; end: number[] };
  };
  samples: MemorySample[];
}

function trend(samples: readonly MemorySample[], warmUpAtS: number, pick: (s: MemorySample) => number | null): MemoryTrend {
  const points = samples.filter((s) => s.atS >= warmUpAtS).flatMap((s) => {
    const value = pick(s);
    return value === null ? [] : [{ atS: s.atS, value }];
  });
  const slope = slopePerMinute(points);
  const windowMin = points.length < 2 ? 0 : (points[points.length - 1]!.atS - points[0]!.atS) / 60;
  return {
    atWarmUpKb: points[0]?.value ?? null,
    atEndKb: points[points.length - 1]?.value ?? null,
    slopeKbPerMin: slope,
    growthKb: slope === null ? null : slope * windowMin,
    samples: points.length,
  };
}

function flat(t: MemoryTrend): boolean {
  if (t.growthKb === null || t.atWarmUpKb === null) return false;
  return t.growthKb <= Math.max(MEMORY_FLAT.floorKb, MEMORY_FLAT.maxGrowthShare * t.atWarmUpKb);
}

const kbText = (kb: number | null) => (kb === null ? '-' : `${(kb / 1024).toFixed(1)} MB`);
const slopeText = (t: MemoryTrend) =>
  t.slopeKbPerMin === null ? 'too few samples' : `${t.slopeKbPerMin.toFixed(0)} KB/min (${kbText(t.atWarmUpKb)} -> ${kbText(t.atEndKb)}, ${t.samples} samples)`;
const flatTarget = `growth over the window <= max(${MEMORY_FLAT.maxGrowthShare * 100}% of warm-up, ${MEMORY_FLAT.floorKb} KB)`;

/** Pushes each repo makes: a fixed count, not as many as fit in durationMs, so a slow machine
 * pushes as often as a quick one, only later (a time-bounded count once failed 11 of 12 under load). */
export const pushesPerRepo = (o: Pick<SoakOptions, 'durationMs' | 'meanPushMs'>): number => Math.max(1, Math.round(o.durationMs / o.meanPushMs));

/** Pushing is cut short after this long; a run that hits it made fewer than plannedPushes and fails "pushes made". */
export const pushWindowMs = (o: Pick<SoakOptions, 'durationMs' | 'slowdown'>): number => 4 * o.durationMs * Math.max(1, o.slowdown ?? 1);

/**
 * The least a run with these options must show to say anything: every planned push made (within
 * pushWindowMs), distinct commits seen by the checker for a fifth of them, and a checker that read
 * throughout (it reads thousands of times a second; 50 a second is the floor); the last two are
 * divided by the machine's slowdown, as a slower daemon publishes several pushes at once.
 * test/reliability/soak.test.ts asserts exactly these criteria, so what it checks and what
 * `npm run soak` prints are the same numbers.
 */
export function thresholds(o: Pick<SoakOptions, 'repos' | 'durationMs' | 'meanPushMs' | 'slowdown'>): { minPushes: number; minDistinct: number; minReads: number } {
  const slow = Math.max(1, o.slowdown ?? 1);
  const minPushes = o.repos * pushesPerRepo(o);
  return { minPushes, minDistinct: Math.max(1, Math.ceil((0.2 * minPushes) / slow)), minReads: Math.max(1, Math.ceil(o.durationMs / 20 / slow)) };
}

/** Criteria judged only on a long run: a short one has too few samples after warm-up for a trend. */
export const MEMORY_CRITERIA = ['supervisor private memory flat after warm-up', 'mean agent private memory flat after warm-up'] as const;

function judge(o: SoakOptions, f: SoakResult['figures']): Criterion[] {
  const n = o.repos;
  const min = thresholds(o);
  return [
    { name: 'repos on their remote head at the end', observed: `${f.reposConverged}/${n}`, target: `${n}/${n}`, pass: f.reposConverged === n },
    { name: 'torn reads (two files of one read disagree)', observed: String(f.reader.mismatches), target: '0', pass: f.reader.mismatches === 0 },
    { name: 'missing files after the link resolved', observed: String(f.reader.missing), target: '0', pass: f.reader.missing === 0 },
    { name: 'agent restarts (none injected)', observed: String(f.restarts), target: '0', pass: f.restarts === 0 },
    {
      name: 'the checker read every repo',
      observed: `${f.reader.reads} reads, >= ${f.reader.minReadsPerPath} per repo`,
      target: `>= ${min.minReads} reads, >= 1 per repo`,
      pass: f.reader.reads >= min.minReads && f.reader.minReadsPerPath >= 1,
    },
    { name: 'pushes made', observed: String(f.pushes), target: `>= ${min.minPushes}`, pass: f.pushes >= min.minPushes },
    { name: 'distinct commits the checker saw', observed: String(f.reader.distinctValues), target: `>= ${min.minDistinct}`, pass: f.reader.distinctValues >= min.minDistinct },
    { name: MEMORY_CRITERIA[0], observed: slopeText(f.memory.supervisorPrivate), target: flatTarget, pass: flat(f.memory.supervisorPrivate) },
    { name: MEMORY_CRITERIA[1], observed: slopeText(f.memory.agentMeanPrivate), target: flatTarget, pass: flat(f.memory.agentMeanPrivate) },
  ];
}

/**
 * Runs one soak and returns what it saw; never throws for a failed criterion (see `passed`), only
 * when the run itself could not be carried out. Everything it starts is undone through `scope`.
 */
export async function runSoak(scope: Cleanup, options: SoakOptions): Promise<SoakResult> {
  const opts = { ...options };
  const progress = opts.progress ?? (() => undefined);
  requireBuilt(CLI);
  // Every loop below also stops when this aborts: on error, and when the scope closes.
  const halt = new AbortController();
  scope.after(() => halt.abort());
  // Each repo's push loop waits on it at the same time: that many listeners is by design.
  setMaxListeners(opts.repos + 10, halt.signal);
  const loadStart = loadavg();

  const root = await makeTempDir(scope, 'gas-soak-');
  const serveRoot = join(root, 'remotes');
  const syncRoot = join(root, 'synced');
  await mkdir(serveRoot);
  await mkdir(syncRoot);

  progress(`creating ${opts.repos} repositories`);
  const names = Array.from({ length: opts.repos }, (_, i) => repoName(i));
  const repos: RemoteRepo[] = new Array<RemoteRepo>(opts.repos);
  const initial: string[] = new Array<string>(opts.repos);
  await forEachLimited(opts.repos, REPO_CREATION_CONCURRENCY, async (i) => {
    const repo = await RemoteRepo.create(serveRoot, names[i]!, { branch: BRANCH });
    repos[i] = repo;
    initial[i] = await repo.commit(initialFiles(`${repo.name} 0`), 'initial commit');
  });
  const server = await startGitDaemon(scope, serveRoot);

  const paths = names.map((name) => join(syncRoot, name));
  const listingPath = join(root, 'listing.json');
  const listing = names.map((name, i) => ({ name, path: paths[i], repo: server.url(name), branch: BRANCH }));
  await writeFile(listingPath, `${JSON.stringify(listing, null, 2)}\n`);

  const startedAt = performance.now();
  // info, not the fixture's debug: an unchanged poll is a debug line, and there are thousands.
  const daemon: RunningDaemon = startDaemon(scope, { LISTING_PATH: listingPath, SCRAPE_INTERVAL: String(opts.intervalMs), LOG_LEVEL: 'info' });
  let stopping = false;
  // Rejects if the daemon exits before we stop it; raced against every long wait below.
  const died = new Promise<never>((_, reject) => {
    void daemon.exited.then((code) => {
      if (!stopping) reject(new Error(`the daemon exited (${code}) during the soak; output tail:\n${daemon.output().slice(-3000)}`));
    });
  });
  died.catch(() => undefined);
  const guard = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([p, died]).catch((err: unknown) => {
      halt.abort();
      throw err;
    });

  const baseUrl = await guard(daemon.httpUrl());
  progress('waiting for the first publish of every repo');
  await guard(
    waitFor(() => paths.every((p, i) => publishedCommit(p) === initial[i]), {
      timeoutMs: Math.max(60_000, opts.repos * 2_000),
      intervalMs: 200,
      message: `all ${opts.repos} repos published`,
    }),
  );
  const startupMs = performance.now() - startedAt;
  const perRepo = pushesPerRepo(opts);
  const window = pushWindowMs(opts);
  progress(`all ${opts.repos} published after ${(startupMs / 1000).toFixed(1)} s; ${perRepo} pushes per repo, about ${(opts.durationMs / 1000).toFixed(0)} s (at most ${(window / 1000).toFixed(0)} s)`);

  const stopFile = join(root, 'stop-reader');
  const hardDeadline = Date.now() + window + opts.convergeTimeoutMs + 60_000;
  const reader = startReader(scope, paths, stopFile, hardDeadline);

  // ---- pushing, and sampling meanwhile ----
  const t0 = performance.now();
  const pushEnd = Date.now() + window;
  const pushes: Push[] = [];
  const pushLoop = async (i: number) => {
    const random = seededRandom(opts.seed + i);
    const repo = repos[i]!;
    for (let seq = 1; seq <= perRepo; seq++) {
      const wait = exponentialDelay(opts.meanPushMs, random);
      if (Date.now() + wait >= pushEnd) return;
      if (!(await sleep(wait, halt.signal))) return;
      const commit = await repo.commit(pushFiles(`${repo.name} ${seq}`, seq), `push ${seq}`);
      pushes.push({ repo: repo.name, seq, commit, atMs: Date.now() });
    }
  };

  const samples: MemorySample[] = [];
  const takeSample = async (): Promise<MemorySample> => {
    const atS = (performance.now() - t0) / 1000;
    const supervisor = readMemory(daemon.pid);
    const pids = agentPids(daemon.pid);
    const mems = pids.map(readMemory).filter((m): m is Memory => m !== null);
    const mean = (k: keyof Memory) => (mems.length === 0 ? 0 : mems.reduce((s, m) => s + m[k], 0) / mems.length);
    const sample: MemorySample = {
      atS,
      supervisor,
      agents: mems.length,
      agentPids: pids,
      agentMeanPssKb: mean('pssKb'),
      agentMeanPrivateKb: mean('privateKb'),
      agentMaxPrivateKb: Math.max(0, ...mems.map((m) => m.privateKb)),
      restarts: null,
      publishes: null,
      syncErrors: null,
    };
    try {
      const c = await readSyncCounts(baseUrl);
      Object.assign(sample, { restarts: c.restarts, publishes: c.success, syncErrors: c.error });
    } catch (err) {
      // A slow /metrics is worth seeing in the results, not worth ending a long run over.
      sample.metricsError = err instanceof Error ? err.message : String(err);
    }
    return sample;
  };
  const samplingDone = new AbortController();
  halt.signal.addEventListener('abort', () => samplingDone.abort(), { once: true });
  const sampler = async () => {
    for (let k = 0; k < MAX_SAMPLES; k++) {
      samples.push(await takeSample());
      const last = samples[samples.length - 1]!;
      progress(
        `t=${last.atS.toFixed(0)} s: ${pushes.length} pushes, ${last.publishes ?? '?'} publishes, ${last.restarts ?? '?'} restarts; ` +
          `supervisor private ${kbText(last.supervisor?.privateKb ?? null)}, ${last.agents} agents, mean private ${kbText(last.agentMeanPrivateKb)}`,
      );
      if (!(await sleep(t0 + (k + 1) * opts.sampleMs - performance.now(), samplingDone.signal))) return;
    }
  };

  const countersAtStart = await guard(readSyncCounts(baseUrl));
  const sampling = sampler();
  await guard(Promise.all([...repos.keys()].map(pushLoop)));
  samplingDone.abort();
  await guard(sampling);
  // The last sample: memory at the end of the pushing window.
  samples.push(await guard(takeSample()));
  const countersAtPushEnd = await guard(readSyncCounts(baseUrl));
  progress(`pushing stopped: ${pushes.length} pushes; waiting for every repo to reach its remote head`);

  // ---- convergence ----
  const heads = await guard(Promise.all(repos.map((r) => r.remoteHead())));
  const convergeStart = performance.now();
  let convergeMs: number | null = null;
  try {
    await guard(waitFor(() => paths.every((p, i) => publishedCommit(p) === heads[i]), { timeoutMs: opts.convergeTimeoutMs, intervalMs: 100, message: 'every repo on its remote head' }));
    convergeMs = performance.now() - convergeStart;
  } catch (err) {
    if (halt.signal.aborted) throw err; // the daemon died: not a convergence figure
  }
  const notConverged = paths.flatMap((p, i) => {
    const published = publishedCommit(p);
    return published === heads[i] ? [] : [{ repo: names[i]!, published, head: heads[i]! }];
  });
  progress(convergeMs === null ? `${notConverged.length} repos did not converge` : `all converged ${convergeMs.toFixed(0)} ms after the last push`);

  const readerResult = await reader.finish();
  const countersAtEnd = await guard(readSyncCounts(baseUrl));
  stopping = true;
  const daemonExit = await daemon.stop();
  halt.abort();

  // ---- figures ----
  const publishLines = daemon.lines.filter((l) => l.message === 'published');
  const publishes: Publish[] = publishLines.map((l) => ({ repo: String(l.repo), commit: String(l.commit), atMs: Date.parse(String(l.timestamp)) }));
  const latencies = pushToPublishMs(pushes, publishes);
  const seen = latencies.filter((x): x is number => x !== null);
  const problems = daemon.lines.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'raw');
  const logProblems: Record<string, number> = {};
  for (const l of problems) logProblems[`${l.level}: ${l.message}`] = (logProblems[`${l.level}: ${l.message}`] ?? 0) + 1;
  const firstPids = new Set(samples[0]?.agentPids ?? []);
  const lastPids = new Set(samples[samples.length - 1]?.agentPids ?? []);
  const warmUpAtS = opts.durationMs / 4000;
  const figures: SoakResult['figures'] = {
    reposConverged: opts.repos - notConverged.length,
    convergeMs,
    notConverged,
    pushes: pushes.length,
    publishes: countersAtEnd.success,
    publishesDuringPushes: countersAtPushEnd.success - countersAtStart.success,
    publishedLogLines: publishLines.length,
    syncErrors: countersAtEnd.error,
    unchangedPolls: countersAtEnd.unchanged,
    restarts: countersAtEnd.restarts,
    reader: readerResult,
    readsPerSecond: readerResult.seconds > 0 ? readerResult.reads / readerResult.seconds : 0,
    pushToPublishMs: { p50: percentile(seen, 50), p95: percentile(seen, 95), max: percentile(seen, 100), neverPublished: latencies.length - seen.length },
    memory: {
      warmUpAtS,
      supervisorPrivate: trend(samples, warmUpAtS, (s) => s.supervisor?.privateKb ?? null),
      agentMeanPrivate: trend(samples, warmUpAtS, (s) => (s.agents > 0 ? s.agentMeanPrivateKb : null)),
      supervisorPss: trend(samples, warmUpAtS, (s) => s.supervisor?.pssKb ?? null),
      agentMeanPss: trend(samples, warmUpAtS, (s) => (s.agents > 0 ? s.agentMeanPssKb : null)),
    },
    agentsAppeared: [...lastPids].filter((p) => !firstPids.has(p)).length,
    agentsVanished: [...firstPids].filter((p) => !lastPids.has(p)).length,
    startupMs,
    daemonExit,
    logProblems,
    logProblemExamples: problems.slice(0, 10),
    loadAverage: { start: loadStart, end: loadavg() },
  };
  const criteria = judge(opts, figures);
  const { progress: _progress, ...recorded } = opts;
  return { options: recorded, passed: criteria.every((c) => c.pass), criteria, figures, samples };
}

// ---- report -------------------------------------------------------------------------------------

export function report(result: SoakResult): string {
  const f = result.figures;
  const o = result.options;
  const table = renderTable(
    ['criterion', 'observed', 'target', 'verdict'],
    result.criteria.map((c) => [c.name, c.observed, c.target, c.pass ? 'PASS' : 'FAIL']),
  );
  const ms = (x: number | null) => (x === null ? '-' : `${x.toFixed(0)} ms`);
  const m = f.memory;
  const lines = [
    `${o.repos} repos, ${(o.durationMs / 60_000).toFixed(2)} min of pushes (mean ${o.meanPushMs} ms apart per repo), interval ${o.intervalMs} ms, seed ${o.seed}`,
    `start-up: every repo published ${(f.startupMs / 1000).toFixed(1)} s after the daemon started`,
    `pushes ${f.pushes}; publishes ${f.publishes} (git_autosync_sync_total{result="success"}: ${o.repos} first clones + ${f.publishesDuringPushes} while pushing + the rest while converging; ${f.publishedLogLines} "published" lines); unchanged polls ${f.unchangedPolls}; failed syncs ${f.syncErrors}`,
    `push -> that commit or a later one published: p50 ${ms(f.pushToPublishMs.p50)}, p95 ${ms(f.pushToPublishMs.p95)}, max ${ms(f.pushToPublishMs.max)}; never ${f.pushToPublishMs.neverPublished}`,
    `convergence after the last push: ${f.convergeMs === null ? `NOT within ${o.convergeTimeoutMs} ms` : ms(f.convergeMs)}`,
    `checker: ${f.reader.reads} reads (${f.readsPerSecond.toFixed(0)}/s, ${f.reader.distinctValues} distinct commits seen, >= ${f.reader.minReadsPerPath} per repo), torn ${f.reader.mismatches}, missing ${f.reader.missing}, unresolved links ${f.reader.unpublished}; stopped by ${f.reader.stoppedBy}`,
    `memory after warm-up (t >= ${m.warmUpAtS.toFixed(0)} s) -> end: supervisor private ${kbText(m.supervisorPrivate.atWarmUpKb)} -> ${kbText(m.supervisorPrivate.atEndKb)} (${m.supervisorPrivate.slopeKbPerMin?.toFixed(0) ?? '-'} KB/min), ` +
      `PSS ${kbText(m.supervisorPss.atWarmUpKb)} -> ${kbText(m.supervisorPss.atEndKb)} (${m.supervisorPss.slopeKbPerMin?.toFixed(0) ?? '-'} KB/min)`,
    `  mean agent private ${kbText(m.agentMeanPrivate.atWarmUpKb)} -> ${kbText(m.agentMeanPrivate.atEndKb)} (${m.agentMeanPrivate.slopeKbPerMin?.toFixed(0) ?? '-'} KB/min), ` +
      `PSS ${kbText(m.agentMeanPss.atWarmUpKb)} -> ${kbText(m.agentMeanPss.atEndKb)} (${m.agentMeanPss.slopeKbPerMin?.toFixed(0) ?? '-'} KB/min)`,
    `agent processes: ${f.agentsAppeared} appeared, ${f.agentsVanished} vanished between the first and last sample; daemon exit on SIGTERM: ${f.daemonExit}`,
    `daemon warnings/errors: ${Object.keys(f.logProblems).length === 0 ? 'none' : Object.entries(f.logProblems).map(([k, v]) => `${k} x${v}`).join('; ')}`,
    `load average: start ${f.loadAverage.start.map((x) => x.toFixed(2)).join(' ')}, end ${f.loadAverage.end.map((x) => x.toFixed(2)).join(' ')}`,
  ];
  if (f.notConverged.length > 0) lines.push(`not converged: ${f.notConverged.slice(0, 10).map((r) => `${r.repo} (${r.published?.slice(0, 8) ?? 'none'} != ${r.head.slice(0, 8)})`).join(', ')}`);
  if (f.reader.examples.length > 0) lines.push(`checker examples: ${JSON.stringify(f.reader.examples)}`);
  const metricsErrors = result.samples.filter((s) => s.metricsError !== undefined).length;
  if (metricsErrors > 0) lines.push(`WARNING: /metrics failed in ${metricsErrors} of ${result.samples.length} samples`);
  return `${table}\n\n${lines.join('\n')}\n\n${result.passed ? 'PASS' : 'FAIL'}`;
}

// ---- command line -------------------------------------------------------------------------------

const RESULTS = fileURLToPath(new URL('./results/soak-latest.json', import.meta.url));

export function parseOptions(argv: string[]): SoakOptions {
  const d = DEFAULT_OPTIONS;
  const { values } = parseArgs({
    args: argv,
    options: {
      repos: { type: 'string', default: String(d.repos) },
      minutes: { type: 'string', default: String(d.durationMs / 60_000) },
      interval: { type: 'string', default: String(d.intervalMs) },
      'mean-push': { type: 'string', default: String(d.meanPushMs) },
      sample: { type: 'string', default: String(d.sampleMs) },
      seed: { type: 'string', default: String(d.seed) },
    },
    strict: true,
  });
  const num = (name: string, raw: string, min: number, max: number, integer = true) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new Error(`--${name} ${JSON.stringify(raw)}: must be a ${integer ? 'whole ' : ''}number from ${min} to ${max}`);
    }
    return n;
  };
  const repos = num('repos', values.repos, 1, 500);
  const durationMs = Math.round(num('minutes', values.minutes, 0.1, 240, false) * 60_000);
  const intervalMs = num('interval', values.interval, 100, 600_000);
  return {
    repos,
    durationMs,
    intervalMs,
    meanPushMs: num('mean-push', values['mean-push'], 100, 3_600_000),
    sampleMs: num('sample', values.sample, 500, 600_000),
    // Long enough for a few polls of every agent after a backoff, whatever the interval.
    convergeTimeoutMs: Math.max(d.convergeTimeoutMs, 10 * intervalMs),
    seed: num('seed', values.seed, 0, 2 ** 32 - 1),
  };
}

function main(): void {
  let opts: SoakOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`soak: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  }
  const began = performance.now();
  const progress = progressPrinter();
  const watchdogMs = 5 * 60_000 + pushWindowMs(opts) + opts.convergeTimeoutMs + opts.repos * 3_000;
  const scope = new Scope();
  runToCompletion(scope, 'soak', watchdogMs, async () => {
    const env = benchEnvironment();
    const result = await runSoak(scope, { ...opts, progress });
    const text = report(result);
    console.log(`\n${text}\n`);
    await mkdir(join(RESULTS, '..'), { recursive: true });
    const out = { generatedAt: new Date().toISOString(), durationS: (performance.now() - began) / 1000, environment: env, memoryFlat: MEMORY_FLAT, ...result, summary: text.split('\n') };
    await writeFile(RESULTS, `${JSON.stringify(roundDeep(out), null, 2)}\n`);
    console.log(`results written to ${RESULTS}`);
    return result.passed ? 0 : 1;
  });
}

// Only as a command: the test imports runSoak from here.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main();
