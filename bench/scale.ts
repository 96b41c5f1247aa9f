// Benchmarks the whole daemon at scale: one supervisor and N idle agents polling N unchanged repos
// over git:// on 127.0.0.1, against N raw `git ls-remote` loops at the same interval, measured in
// the same run but never at the same time. Prints a table and writes the same results to
// bench/results/scale-latest.json. Run: `npm run build && npx tsx bench/scale.ts [--repos N]
// [--seconds S] [--interval MS]`. CPU is whole-tree CPU as the kernel accounts it, git included:
// for the daemon from /proc (utime+stime, and cutime+cstime of the processes that reaped git), for
// the raw loops from each loop's own getrusage, because /proc's whole ticks are too coarse for
// processes that use about one tick a minute. Memory is PSS, so pages that N node processes share
// are counted once, split among them.
//
// Start-up is measured too: the time until every entry is published against N raw `git clone
// --depth 1` run as many at a time as the machine has cores, and /healthz latency while the agents
// start against a bare node HTTP server probed at the same moments; and validating a 5,000-entry
// listing (first, warm, one entry edited) against JSON.parse of it. Default 500 repos: on a 2-core
// machine a run takes about 10 minutes (bench/results/scale-500-latest.json is such a run, kept
// beside the 100-repo one).
//
// `--part supervisor` measures the supervisor instead (bench/figures/supervisor-scale.ts): listing
// validation of --listing-entries entries (default 5000) against JSON.parse, /healthz latency while
// --entries idle agents (default 100) start and while one of them is edited, against a bare node
// server, and the supervisor's private memory per entry. Results: bench/results/scale-supervisor-latest.json.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDaemon, type RunningDaemon } from '../test/support/daemon.js';
import { startGitDaemon, type GitServer } from '../test/support/git-daemon.js';
import { RemoteRepo } from '../test/support/git-repo.js';
import { makeTempDir, waitFor } from '../test/support/tmp.js';
import { progressPrinter, requireBuilt } from './support/progress.js';
import { runToCompletion, Scope } from './support/scope.js';
import { benchEnvironment } from './support/environment.js';
import { roundDeep } from './support/stats.js';
import { childrenOf, clockTicksPerSecond, readCpuTicks, readMemory } from './support/proc.js';
import { readSyncCounts, type SyncCounts } from './support/counters.js';
import { forEachLimited } from './support/limited.js';
import { renderTable } from './support/table.js';
import { probeUntil, startBareNode, startupFigures, validationFigures, type Latency, type ValidationFigures } from './figures/supervisor-scale.js';
import { cpus } from 'node:os';
import { execFile } from 'node:child_process';

const TARGETS = {
  /** Supervisor + N idle agents, PSS: 1.2 GB, as 1200 MB of 2^20 bytes, the unit every memory figure here is printed in. */
  totalPssMb: 1200,
  /** Whole-tree idle CPU over the raw git loops' CPU, same interval, same window length. */
  idleCpuRatio: 1.3,
} as const;
const REPO_CREATION_CONCURRENCY = 8;
const BRANCH = 'main';
const RESULTS = fileURLToPath(new URL('./results/scale-latest.json', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Options {
  part: 'idle' | 'supervisor';
  entries: number;
  listingEntries: number;
  repos: number;
  seconds: number;
  intervalMs: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      part: { type: 'string', default: 'idle' },
      entries: { type: 'string', default: '100' },
      'listing-entries': { type: 'string', default: '5000' },
      repos: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '60' },
      interval: { type: 'string', default: '10000' },
    },
    strict: true,
  });
  const int = (name: string, raw: string, min: number, max: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} ${JSON.stringify(raw)}: must be a whole number from ${min} to ${max}`);
    return n;
  };
  if (values.part !== 'idle' && values.part !== 'supervisor') throw new Error(`--part ${JSON.stringify(values.part)}: must be idle or supervisor`);
  return {
    part: values.part,
    entries: int('entries', values.entries, 2, 1000),
    listingEntries: int('listing-entries', values['listing-entries'], 1, 20_000),
    repos: int('repos', values.repos, 1, 2000),
    seconds: int('seconds', values.seconds, 5, 3600),
    intervalMs: int('interval', values.interval, 500, 600_000),
  };
}

// ---- /proc --------------------------------------------------------------------------------------

interface Ticks {
  /** utime + stime: the process itself. */
  self: number;
  /** cutime + cstime: children it has reaped (git, and for git the wrapper the agent runs it under). */
  children: number;
}

interface Memory {
  rssKb: number;
  pssKb: number;
  privateKb: number;
}

/** `read(pid)`, or null when the process is gone (it may exit between listing and reading). */
function ifAlive<T>(pid: number, read: (pid: number) => T): T | null {
  try {
    return read(pid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw err;
  }
}

function readTicks(pid: number): Ticks | null {
  return ifAlive(pid, (p) => {
    const t = readCpuTicks(p);
    return { self: t.user + t.system, children: t.childrenUser + t.childrenSystem };
  });
}

function readMemorySummary(pid: number): Memory | null {
  return ifAlive(pid, (p) => {
    const m = readMemory(p);
    return { rssKb: m.rssKb, pssKb: m.pssKb, privateKb: m.privateCleanKb + m.privateDirtyKb };
  });
}

/**
 * A process tree at one moment: every live process under `roots`, its depth below them and its
 * CPU so far. The sum of self + reaped children over a tree is the CPU of everything the tree ever
 * ran, so the difference of two sums is what it used in between, whatever started, finished or was
 * reaped meanwhile: a git in flight at the start is subtracted there, and comes back whole in the
 * cutime of the process that reaps it.
 */
type TreeSnapshot = Map<number, { depth: number; ticks: Ticks }>;

function snapshotTree(roots: readonly number[]): TreeSnapshot {
  const out: TreeSnapshot = new Map();
  let level = [...roots];
  // Our trees are at most five deep (supervisor, agent, sh, timeout, git); the bound is a guard.
  for (let depth = 0; level.length > 0 && depth < 16; depth++) {
    const next: number[] = [];
    for (const pid of level) {
      if (out.has(pid)) continue;
      const ticks = readTicks(pid);
      if (ticks === null) continue;
      out.set(pid, { depth, ticks });
      next.push(...childrenOf(pid));
    }
    level = next;
  }
  return out;
}

interface LevelCpu {
  self: number;
  children: number;
}

/** CPU ticks used between two snapshots, per depth; depths from `levels - 1` down are added together. */
function treeCpu(before: TreeSnapshot, after: TreeSnapshot, levels: number): LevelCpu[] {
  const out = Array.from({ length: levels }, () => ({ self: 0, children: 0 }));
  const add = (snap: TreeSnapshot, sign: number) => {
    for (const { depth, ticks } of snap.values()) {
      const l = out[Math.min(depth, levels - 1)]!;
      l.self += sign * ticks.self;
      l.children += sign * ticks.children;
    }
  };
  add(after, 1);
  add(before, -1);
  return out;
}

const atDepth = (snap: TreeSnapshot, depth: number) => [...snap].filter(([, v]) => v.depth === depth).map(([pid]) => pid);

/** Processes at `depth` that were not there at the start, or are gone at the end (agents restarted, loops died). */
function churn(before: TreeSnapshot, after: TreeSnapshot, depth: number): { appeared: number; vanished: number } {
  const b = new Set(atDepth(before, depth));
  const a = new Set(atDepth(after, depth));
  return { appeared: [...a].filter((p) => !b.has(p)).length, vanished: [...b].filter((p) => !a.has(p)).length };
}

const totalTicks = (levels: LevelCpu[]) => levels.reduce((sum, l) => sum + l.self + l.children, 0);

interface MemorySum {
  processes: number;
  rssKb: number;
  pssKb: number;
  privateKb: number;
}

function sumMemory(pids: readonly number[]): MemorySum {
  const sum: MemorySum = { processes: 0, rssKb: 0, pssKb: 0, privateKb: 0 };
  for (const pid of pids) {
    const m = readMemorySummary(pid);
    if (m === null) continue;
    sum.processes += 1;
    sum.rssKb += m.rssKb;
    sum.pssKb += m.pssKb;
    sum.privateKb += m.privateKb;
  }
  return sum;
}

// ---- fixtures -----------------------------------------------------------------------------------

const repoName = (i: number) => `repo-${String(i).padStart(4, '0')}`;

/** N small repos, one commit of a few files each, under the folder git daemon serves. */
async function createRepos(serveRoot: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => repoName(i));
  await forEachLimited(count, REPO_CREATION_CONCURRENCY, async (i) => {
    const name = names[i]!;
    const repo = await RemoteRepo.create(serveRoot, name, { branch: BRANCH });
    await repo.commit(
      {
        'README.md': `# ${name}\n\nA small repository for the scale benchmark.\n`,
        'src/index.js': `export const name = ${JSON.stringify(name)};\nexport const answer = ${i};\n`,
        'config/settings.json': `${JSON.stringify({ name, replicas: 1 + (i % 3) }, null, 2)}\n`,
      },
      'initial commit',
    );
  });
  return names;
}

// ---- the raw git loops (baseline) ---------------------------------------------------------------

// One bash per repo: ls-remote the branch, append one byte to the shared tally ("." ok, "x" failed;
// small O_APPEND writes do not interleave), wait, repeat. The first wait is a random offset so the
// N loops spread over the interval.
//
// Waiting is `read -t` on a pipe the loop holds both ends of, a builtin, so the baseline is git
// alone, not git plus a `sleep` process per poll; a signal cuts a read short, so the wait resumes
// until its deadline. On SIGUSR1 the loop writes `times` (getrusage: itself and its reaped
// children, to the millisecond). That is how the baseline's CPU is measured: each loop uses about
// one clock tick a minute, and /proc/<pid>/stat truncates each process's count to whole ticks, so
// summing it over N loops loses most of it (see procTicks in the results, kept to show this).
const LOOP_SCRIPT = `
set -u
url=$1; offset_us=$2; interval_us=$3; tally=$4; reports=$5
snap=0
trap 'snap=$((snap + 1)); times >"$reports/$$.$snap"' USR1
exec {pipe}<> <(:)
pause() {
  local now=\${EPOCHREALTIME/./} left frac
  local end=$((now + $1))
  while ((now < end)); do
    left=$((end - now))
    printf -v frac '%06d' $((left % 1000000))
    read -r -t "$((left / 1000000)).$frac" -u "$pipe" || true
    now=\${EPOCHREALTIME/./}
  done
}
pause "$offset_us"
while :; do
  if git ls-remote "$url" refs/heads/${BRANCH} >/dev/null 2>&1; then printf . >>"$tally"; else printf x >>"$tally"; fi
  pause "$interval_us"
done
`;

interface Tally {
  ok: number;
  failed: number;
}

function readTally(path: string): Tally {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // no iteration finished yet
  }
  const failed = text.split('x').length - 1;
  return { ok: text.length - failed, failed };
}

/** CPU seconds of one loop from its `times` report: the shell itself, and the children it reaped. */
interface LoopCpu {
  self: number;
  children: number;
}

/** `times` prints "0m0.012s 0m0.003s" twice: user and system of the shell, then of its children. */
function parseTimes(text: string): LoopCpu | null {
  const values = [...text.matchAll(/(\d+)m(\d+(?:\.\d+)?)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (values.length !== 4 || !text.endsWith('\n')) return null; // not (fully) written yet
  return { self: values[0]! + values[1]!, children: values[2]! + values[3]! };
}

/** Asks every loop for its `times` (report number `snap`) and waits, bounded, until all have answered. */
async function loopCpu(loops: readonly ChildProcess[], reports: string, snap: number): Promise<Map<number, LoopCpu>> {
  for (const loop of loops) loop.kill('SIGUSR1');
  return waitFor(
    () => {
      const out = new Map<number, LoopCpu>();
      for (const loop of loops) {
        let text = '';
        try {
          text = readFileSync(join(reports, `${loop.pid}.${snap}`), 'utf8');
        } catch {
          return false;
        }
        const cpu = parseTimes(text);
        if (cpu === null) return false;
        out.set(loop.pid!, cpu);
      }
      return out;
    },
    // A loop answers once its current git has finished.
    { timeoutMs: 15_000, intervalMs: 20, message: `all ${loops.length} raw loops reporting their CPU (report ${snap})` },
  );
}

interface LoopsResult {
  windowS: number;
  /** CPU seconds in the window, from the loops' own `times`: bash itself, and git. */
  cpu: { bash: number; git: number };
  /** The same, from /proc ticks (the method the daemon gets): shown to be far too coarse here. */
  procTicks: { bash: number; git: number };
  loopChurn: { appeared: number; vanished: number };
  iterations: Tally;
  memory: MemorySum;
  /** CPU seconds of the git daemon serving the loops. */
  serverCpu: number;
}

/** Stops one loop: SIGTERM to its process group (it leads one: detached), SIGKILL if it lingers. */
async function stopLoop(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      // The group holds only what this bash started (its git or nothing): ours to stop.
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  signalGroup('SIGTERM');
  const timer = setTimeout(() => signalGroup('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function runRawLoops(scope: Scope, root: string, server: GitServer, names: string[], opts: Options, hz: number, progress: (s: string) => void): Promise<LoopsResult> {
  const tally = join(root, 'raw-loop-tally');
  const reports = join(root, 'raw-loop-times');
  await mkdir(reports);
  const loops: ChildProcess[] = [];
  const stopAll = () => Promise.all(loops.map(stopLoop));
  scope.after(stopAll);
  for (const name of names) {
    const offsetUs = String(Math.floor(Math.random() * opts.intervalMs * 1000));
    const child = spawn('bash', ['-c', LOOP_SCRIPT, 'raw-git-loop', server.url(name), offsetUs, String(opts.intervalMs * 1000), tally, reports], {
      // Its own process group, so stopping it also stops a git it is waiting for.
      detached: true,
      stdio: 'ignore',
      // C locale: EPOCHREALTIME must have a "." to strip.
      env: { ...process.env, LC_ALL: 'C' },
    });
    if (child.pid === undefined) throw new Error('could not start bash for the raw git loops');
    loops.push(child);
  }
  const pids = loops.map((c) => c.pid!);
  // One whole interval: every loop is past its random offset and polling steadily (and has its
  // USR1 trap set long before the first signal).
  progress(`raw loops: ${names.length} started, settling for ${opts.intervalMs} ms`);
  await delay(opts.intervalMs);
  progress(`raw loops: measuring for ${opts.seconds} s`);
  const t0 = performance.now();
  const tally0 = readTally(tally);
  const server0 = snapshotTree([server.pid]);
  const tree0 = snapshotTree(pids);
  const times0 = await loopCpu(loops, reports, 1);
  await delay(Math.max(0, opts.seconds * 1000 - (performance.now() - t0)));
  const t1 = performance.now();
  const tree1 = snapshotTree(pids);
  const server1 = snapshotTree([server.pid]);
  const tally1 = readTally(tally);
  const times1 = await loopCpu(loops, reports, 2);
  const memory = sumMemory(pids);
  await stopAll();
  const sum = (m: Map<number, LoopCpu>, k: keyof LoopCpu) => [...m.values()].reduce((a, c) => a + c[k], 0);
  const [bash, git] = treeCpu(tree0, tree1, 2) as [LevelCpu, LevelCpu];
  return {
    windowS: (t1 - t0) / 1000,
    cpu: { bash: sum(times1, 'self') - sum(times0, 'self'), git: sum(times1, 'children') - sum(times0, 'children') },
    procTicks: { bash: bash.self / hz, git: (bash.children + git.self + git.children) / hz },
    loopChurn: churn(tree0, tree1, 0),
    iterations: { ok: tally1.ok - tally0.ok, failed: tally1.failed - tally0.failed },
    memory,
    serverCpu: totalTicks(treeCpu(server0, server1, 1)) / hz,
  };
}

// ---- the daemon ---------------------------------------------------------------------------------

async function statusStates(baseUrl: string): Promise<Record<string, number>> {
  const res = await fetch(`${baseUrl}/status`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET /status: HTTP ${res.status}`);
  const states: Record<string, number> = {};
  for (const s of (await res.json()) as Array<{ state: string }>) states[s.state] = (states[s.state] ?? 0) + 1;
  return states;
}

interface DaemonResult {
  startupS: number;
  /** /healthz while the agents started, and a bare node server probed at the same moments. */
  startupHealthz: Latency;
  startupHealthzBaseline: Latency;
  windowS: number;
  agents: number;
  /**
   * CPU seconds in the window: the supervisor, agents it reaped (restarts), the agents' node, and
   * the agents' children: git and the sh + timeout wrapper it runs under (reaped, or in flight at
   * either end).
   */
  cpu: { supervisor: number; reapedAgents: number; agentsNode: number; git: number };
  agentChurn: { appeared: number; vanished: number };
  polls: SyncCounts;
  statesAfter: Record<string, number>;
  supervisorMemory: MemorySum;
  agentMemory: MemorySum;
  /** CPU seconds of the git daemon serving the agents. */
  serverCpu: number;
}

async function waitForAllPublished(daemon: RunningDaemon, count: number, timeoutMs: number, progress: (s: string) => void): Promise<void> {
  const published = () => new Set(daemon.lines.filter((l) => l.message === 'published').map((l) => String(l.repo))).size;
  let lastReport = performance.now();
  const allPublished = waitFor(
    () => {
      const n = published();
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        progress(`daemon: ${n} of ${count} published`);
      }
      return n >= count;
    },
    { timeoutMs, intervalMs: 250, message: `all ${count} repos published` },
  );
  const died = daemon.exited.then((code) => {
    throw new Error(`the daemon exited (${code}) before publishing everything; output tail:\n${daemon.output().slice(-3000)}`);
  });
  await Promise.race([allPublished, died]);
}

async function runDaemon(scope: Scope, root: string, server: GitServer, names: string[], opts: Options, hz: number, progress: (s: string) => void): Promise<DaemonResult> {
  const syncRoot = join(root, 'synced');
  await mkdir(syncRoot);
  const listingPath = join(root, 'listing.json');
  const listing = names.map((name) => ({ path: join(syncRoot, name), repo: server.url(name), branch: BRANCH }));
  await writeFile(listingPath, `${JSON.stringify(listing, null, 2)}\n`);

  const bare = await startBareNode(scope);
  const started = performance.now();
  const daemon = startDaemon(scope, { LISTING_PATH: listingPath, SCRAPE_INTERVAL: String(opts.intervalMs), LOG_LEVEL: 'info' });
  const baseUrl = await daemon.httpUrl();
  const allPublished = waitForAllPublished(daemon, names.length, Math.max(180_000, names.length * 2_000), progress);
  const [startupHealthz, startupHealthzBaseline] = await Promise.all([probeUntil(baseUrl, allPublished), probeUntil(bare, allPublished)]);
  await allPublished;
  const startupS = (performance.now() - started) / 1000;
  progress(`daemon: all ${names.length} published after ${startupS.toFixed(1)} s; letting the first polls pass (${opts.intervalMs} ms)`);
  await delay(opts.intervalMs);

  progress(`daemon: measuring for ${opts.seconds} s`);
  const counts0 = await readSyncCounts(baseUrl);
  const server0 = snapshotTree([server.pid]);
  const tree0 = snapshotTree([daemon.pid]);
  const t0 = performance.now();
  await delay(opts.seconds * 1000);
  const tree1 = snapshotTree([daemon.pid]);
  const t1 = performance.now();
  const server1 = snapshotTree([server.pid]);
  const agents1 = atDepth(tree1, 1);
  const supervisorMemory = sumMemory([daemon.pid]);
  const agentMemory = sumMemory(agents1);
  const counts1 = await readSyncCounts(baseUrl);
  const statesAfter = await statusStates(baseUrl);
  progress('daemon: stopping');
  await daemon.stop();
  const [sup, agents, git] = treeCpu(tree0, tree1, 3) as [LevelCpu, LevelCpu, LevelCpu];
  return {
    startupS,
    startupHealthz,
    startupHealthzBaseline,
    windowS: (t1 - t0) / 1000,
    agents: agents1.length,
    cpu: { supervisor: sup.self / hz, reapedAgents: sup.children / hz, agentsNode: agents.self / hz, git: (agents.children + git.self + git.children) / hz },
    agentChurn: churn(tree0, tree1, 1),
    polls: {
      success: counts1.success - counts0.success,
      unchanged: counts1.unchanged - counts0.unchanged,
      error: counts1.error - counts0.error,
      restarts: counts1.restarts - counts0.restarts,
    },
    statesAfter,
    supervisorMemory,
    agentMemory,
    serverCpu: totalTicks(treeCpu(server0, server1, 1)) / hz,
  };
}

// ---- report -------------------------------------------------------------------------------------

interface Row {
  figure: string;
  daemon: string;
  baseline: string;
  ratio: number | null;
  target: string;
  /** null: reported for information, no target. */
  pass: boolean | null;
}

const mb = (kb: number) => kb / 1024;
const ratioOf = (a: number, b: number) => (b === 0 ? null : a / b);

function figures(d: DaemonResult, raw: LoopsResult) {
  const daemonCpuS = d.cpu.supervisor + d.cpu.reapedAgents + d.cpu.agentsNode + d.cpu.git;
  const rawCpuS = raw.cpu.bash + raw.cpu.git;
  // Both windows are S seconds give or take a few ms: the ratio compares rates (% of a core), not totals.
  const daemonCorePct = (100 * daemonCpuS) / d.windowS;
  const rawCorePct = (100 * rawCpuS) / raw.windowS;
  const daemonPolls = d.polls.unchanged + d.polls.success + d.polls.error;
  const rawPolls = raw.iterations.ok + raw.iterations.failed;
  return {
    daemonCpuS,
    rawCpuS,
    daemonCorePct,
    rawCorePct,
    cpuRatio: ratioOf(daemonCorePct, rawCorePct),
    daemonMsPerPoll: daemonPolls === 0 ? null : (1000 * daemonCpuS) / daemonPolls,
    rawMsPerPoll: rawPolls === 0 ? null : (1000 * rawCpuS) / rawPolls,
    daemonPolls,
    rawPolls,
    totalPssKb: d.supervisorMemory.pssKb + d.agentMemory.pssKb,
    serverDaemonCpuS: d.serverCpu,
    serverRawCpuS: raw.serverCpu,
  };
}

/** N `git clone --depth 1` of the same repos, as many at a time as there are cores: what the daemon's start-up is compared with. */
async function rawClones(root: string, server: GitServer, names: string[]): Promise<number> {
  const into = join(root, 'raw-clones');
  await mkdir(into);
  const started = performance.now();
  await forEachLimited(names.length, cpus().length, (i) =>
    new Promise<void>((resolve, reject) => {
      execFile('git', ['clone', '--quiet', '--depth', '1', '--branch', BRANCH, server.url(names[i]!), join(into, names[i]!)], { timeout: 60_000 }, (err, _o, stderr) =>
        err ? reject(new Error(`git clone ${names[i]}: ${stderr || err.message}`)) : resolve(),
      );
    }),
  );
  return (performance.now() - started) / 1000;
}

const latencyText = (l: Latency) => `p99 ${l.p99Ms.toFixed(0)} ms (p50 ${l.p50Ms.toFixed(0)}, max ${l.maxMs.toFixed(0)}; ${l.probes} probes, ${l.failed} failed)`;

function startRows(d: DaemonResult, clonesS: number, v: ValidationFigures, n: number): Row[] {
  return [
    {
      figure: `time until all ${n} entries are published (daemon start -> last 'published')`,
      daemon: `${d.startupS.toFixed(1)} s`,
      baseline: `${n} git clone --depth 1, ${cpus().length} at a time: ${clonesS.toFixed(1)} s`,
      ratio: ratioOf(d.startupS, clonesS),
      target: '<= 20 s at 100 entries',
      pass: null,
    },
    {
      figure: `/healthz while ${n} agents start`,
      daemon: latencyText(d.startupHealthz),
      baseline: `bare node, same moments: ${latencyText(d.startupHealthzBaseline)}`,
      ratio: ratioOf(d.startupHealthz.p99Ms, d.startupHealthzBaseline.p99Ms),
      target: 'p99 <= 100 ms',
      pass: d.startupHealthz.p99Ms <= 100,
    },
    {
      figure: `validate a ${v.entries}-entry listing: first / warm / one entry edited`,
      daemon: `${v.firstValidationMs.toFixed(0)} / ${v.validationMs.toFixed(0)} / ${v.reloadOneMs.toFixed(0)} ms`,
      baseline: `JSON.parse ${v.jsonParseMs.toFixed(1)} ms`,
      ratio: ratioOf(v.validationMs, v.jsonParseMs),
      target: '< 1000 ms',
      pass: v.firstValidationMs < 1000,
    },
  ];
}

function rowsFor(d: DaemonResult, raw: LoopsResult, f: ReturnType<typeof figures>, opts: Options): Row[] {
  const n = opts.repos;
  const perPoll = (x: number | null) => (x === null ? '-' : `${x.toFixed(1)} ms`);
  const agentsN = Math.max(1, d.agentMemory.processes);
  const loopsN = Math.max(1, raw.memory.processes);
  return [
    {
      figure: `total PSS: supervisor + ${d.agentMemory.processes} idle agents`,
      daemon: `${mb(f.totalPssKb).toFixed(0)} MB`,
      baseline: `${raw.memory.processes} bash loops ${mb(raw.memory.pssKb).toFixed(0)} MB`,
      ratio: ratioOf(f.totalPssKb, raw.memory.pssKb),
      target: `<= ${TARGETS.totalPssMb} MB`,
      pass: mb(f.totalPssKb) <= TARGETS.totalPssMb,
    },
    {
      figure: 'supervisor PSS / private',
      daemon: `${mb(d.supervisorMemory.pssKb).toFixed(1)} / ${mb(d.supervisorMemory.privateKb).toFixed(1)} MB`,
      baseline: '-',
      ratio: null,
      target: '-',
      pass: null,
    },
    {
      figure: 'per agent: PSS / private (average)',
      daemon: `${mb(d.agentMemory.pssKb / agentsN).toFixed(1)} / ${mb(d.agentMemory.privateKb / agentsN).toFixed(1)} MB`,
      baseline: `per bash loop ${mb(raw.memory.pssKb / loopsN).toFixed(2)} / ${mb(raw.memory.privateKb / loopsN).toFixed(2)} MB`,
      ratio: null,
      target: '-',
      pass: null,
    },
    {
      figure: `idle CPU, ${n} repos @${opts.intervalMs} ms, ${opts.seconds} s (whole tree, git included)`,
      daemon: `${f.daemonCpuS.toFixed(2)} s = ${f.daemonCorePct.toFixed(2)}% of a core`,
      baseline: `${f.rawCpuS.toFixed(2)} s = ${f.rawCorePct.toFixed(2)}% of a core`,
      ratio: f.cpuRatio,
      target: `<= ${TARGETS.idleCpuRatio}x`,
      pass: f.cpuRatio !== null && f.cpuRatio <= TARGETS.idleCpuRatio,
    },
    {
      figure: 'polls in the window (unchanged + success + error)',
      daemon: `${f.daemonPolls} (${d.polls.unchanged} + ${d.polls.success} + ${d.polls.error})`,
      baseline: `${f.rawPolls} iterations (${raw.iterations.failed} failed)`,
      ratio: ratioOf(f.daemonPolls, f.rawPolls),
      target: '-',
      pass: null,
    },
    {
      figure: 'CPU per poll (whole tree / polls)',
      daemon: perPoll(f.daemonMsPerPoll),
      baseline: perPoll(f.rawMsPerPoll),
      ratio: f.daemonMsPerPoll === null || f.rawMsPerPoll === null ? null : ratioOf(f.daemonMsPerPoll, f.rawMsPerPoll),
      target: '-',
      pass: null,
    },
    {
      figure: 'server side: git daemon CPU in the window',
      daemon: `${f.serverDaemonCpuS.toFixed(2)} s`,
      baseline: `${f.serverRawCpuS.toFixed(2)} s`,
      ratio: ratioOf(f.serverDaemonCpuS, f.serverRawCpuS),
      target: '-',
      pass: null,
    },
  ];
}

function notes(d: DaemonResult, raw: LoopsResult, f: ReturnType<typeof figures>, hz: number, opts: Options): string[] {
  const s = (seconds: number) => `${seconds.toFixed(2)} s`;
  const lines = [
    `where the daemon's CPU went: supervisor ${s(d.cpu.supervisor)} (reaped agents ${s(d.cpu.reapedAgents)}), ` +
      `agents' node ${s(d.cpu.agentsNode)}, agents' children (git under its sh + timeout wrapper) ${s(d.cpu.git)}`,
    `where the raw loops' CPU went: bash ${s(raw.cpu.bash)}, git ${s(raw.cpu.git)} (their own getrusage; /proc ticks summed over the ${raw.memory.processes} loops say ` +
      `${s(raw.procTicks.bash)} + ${s(raw.procTicks.git)}: each loop uses about a tick, which /proc truncates)`,
    `memory, daemon: supervisor Rss ${mb(d.supervisorMemory.rssKb).toFixed(1)} MB; agents Rss ${mb(d.agentMemory.rssKb).toFixed(0)} MB in all, ` +
      `PSS ${mb(d.agentMemory.pssKb).toFixed(0)} MB, private ${mb(d.agentMemory.privateKb).toFixed(0)} MB (shared pages counted once by PSS)`,
    `daemon start-up: all ${d.agents} agents published ${d.startupS.toFixed(1)} s after the daemon started; states after the window: ` +
      Object.entries(d.statesAfter).map(([k, v]) => `${k} ${v}`).join(', '),
    `windows: daemon ${d.windowS.toFixed(2)} s, raw loops ${raw.windowS.toFixed(2)} s; daemon CPU from /proc at 1/${hz} s per field per process, raw loops' from getrusage at 1 ms`,
    // CPU time is not immune to other work: a busy machine (steal, caches) inflates both sides.
    `load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  ];
  const changed = d.agentChurn.appeared + d.agentChurn.vanished + raw.loopChurn.appeared + raw.loopChurn.vanished + d.polls.restarts;
  if (changed > 0) {
    lines.push(
      `WARNING: processes came or went during a window (agents appeared ${d.agentChurn.appeared}, vanished ${d.agentChurn.vanished}, restarts ${d.polls.restarts}; ` +
        `loops appeared ${raw.loopChurn.appeared}, vanished ${raw.loopChurn.vanished}): not the idle steady state this bench means to measure`,
    );
  }
  if (d.agents !== opts.repos) lines.push(`WARNING: ${d.agents} agents running at the end, ${opts.repos} expected`);
  if (d.polls.error > 0 || raw.iterations.failed > 0) {
    lines.push(`WARNING: failed polls in a window (daemon ${d.polls.error}, raw loops ${raw.iterations.failed}): a failed poll costs less than a good one`);
  }
  if (f.daemonPolls === 0) lines.push('WARNING: the daemon did not poll during its window');
  return lines;
}

// ---- main ---------------------------------------------------------------------------------------

async function main(scope: Scope, opts: Options): Promise<void> {
  requireBuilt(CLI);
  const startedAt = performance.now();
  const progress = progressPrinter();
  const hz = clockTicksPerSecond();
  const env = { ...benchEnvironment(), clockTicksPerSecond: hz };
  progress(`${env.node}, ${env.git}, ${env.cpus} cpus, load ${env.loadAverageAtStart.join(' ')}, source ${env.source.commit.slice(0, 10)} + ${env.source.uncommittedChanges} changes, dist ${env.source.dist}; ${opts.repos} repos, ${opts.seconds} s windows, interval ${opts.intervalMs} ms`);

  const root = await makeTempDir(scope, 'gas-scale-');
  const serveRoot = join(root, 'remotes');
  await mkdir(serveRoot);
  const server = await startGitDaemon(scope, serveRoot);
  progress(`creating ${opts.repos} repositories`);
  const names = await createRepos(serveRoot, opts.repos);

  progress('validating a 5000-entry listing');
  const validation = validationFigures(5000);
  // The baselines first, then the daemon: never both at once, so neither competes with the other.
  progress(`raw clones: ${names.length}, ${cpus().length} at a time`);
  const clonesS = await rawClones(root, server, names);
  const raw = await runRawLoops(scope, root, server, names, opts, hz, progress);
  const daemon = await runDaemon(scope, root, server, names, opts, hz, progress);

  const f = figures(daemon, raw);
  const rows = [...rowsFor(daemon, raw, f, opts), ...startRows(daemon, clonesS, validation, names.length)];
  const table = renderTable(
    ['figure', 'git-autosync', 'raw git loops', 'ratio', 'target', 'pass'],
    rows.map((r) => [r.figure, r.daemon, r.baseline, r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`, r.target, r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL']),
  );
  const lines = notes(daemon, raw, f, hz, opts);
  console.log(`\n${table}\n\n${lines.join('\n')}\n`);

  const results = {
    generatedAt: new Date().toISOString(),
    durationS: (performance.now() - startedAt) / 1000,
    environment: env,
    settings: { ...opts, branch: BRANCH, targets: TARGETS, memoryUnit: 'MB = 2^20 bytes' },
    table: rows,
    notes: lines,
    figures: {
      idleCpu: {
        daemon: { cpuS: f.daemonCpuS, percentOfOneCore: f.daemonCorePct, msPerPoll: f.daemonMsPerPoll },
        rawLoops: { cpuS: f.rawCpuS, percentOfOneCore: f.rawCorePct, msPerPoll: f.rawMsPerPoll },
        ratio: f.cpuRatio,
      },
      memory: {
        totalPssMb: mb(f.totalPssKb),
        supervisorPssMb: mb(daemon.supervisorMemory.pssKb),
        agentAveragePssMb: mb(daemon.agentMemory.pssKb / Math.max(1, daemon.agentMemory.processes)),
        agentAveragePrivateMb: mb(daemon.agentMemory.privateKb / Math.max(1, daemon.agentMemory.processes)),
      },
      polls: { daemon: daemon.polls, rawLoops: raw.iterations },
      startup: { daemonS: daemon.startupS, rawClonesS: clonesS, healthz: daemon.startupHealthz, healthzBaseline: daemon.startupHealthzBaseline },
      validation,
    },
    raw: { daemon, rawLoops: raw, clockTicksPerSecond: hz },
  };
  await mkdir(join(RESULTS, '..'), { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify(roundDeep(results), null, 2)}\n`);
  console.log(`results written to ${RESULTS} (${((performance.now() - startedAt) / 1000).toFixed(0)} s)`);
}

const SUPERVISOR_RESULTS = fileURLToPath(new URL('./results/scale-supervisor-latest.json', import.meta.url));

async function supervisorMain(scope: Scope, opts: Options): Promise<void> {
  requireBuilt(CLI);
  const startedAt = performance.now();
  const progress = progressPrinter();
  const env = benchEnvironment();
  progress(`${env.node}, ${env.cpus} cpus, load ${env.loadAverageAtStart.join(' ')}; listing of ${opts.listingEntries}, ${opts.entries} idle agents`);
  const validation = validationFigures(opts.listingEntries);
  const root = await makeTempDir(scope, 'gas-scale-sup-');
  const serveRoot = join(root, 'remotes');
  await mkdir(serveRoot);
  const server = await startGitDaemon(scope, serveRoot);
  const [repo] = await createRepos(serveRoot, 1);
  const s = await startupFigures(scope, root, server, repo!, opts.entries, progress);
  const lat = (l: { p50Ms: number; p99Ms: number; maxMs: number; probes: number; failed: number }) =>
    `p99 ${l.p99Ms.toFixed(0)} ms (p50 ${l.p50Ms.toFixed(0)}, max ${l.maxMs.toFixed(0)}; ${l.probes} probes, ${l.failed} failed)`;
  const v = validation;
  const rows = [
    [`validate a ${v.entries}-entry listing (first / warm)`, `${v.firstValidationMs.toFixed(0)} / ${v.validationMs.toFixed(0)} ms`, `JSON.parse ${v.jsonParseMs.toFixed(1)} ms`, `${(v.validationMs / v.jsonParseMs).toFixed(1)}x`],
    [`re-read it with one entry edited`, `${v.reloadOneMs.toFixed(0)} ms`, `JSON.parse ${v.jsonParseMs.toFixed(1)} ms`, `${(v.reloadOneMs / v.jsonParseMs).toFixed(1)}x`],
    [`/healthz while ${s.entries} agents start (${s.startupS.toFixed(0)} s)`, lat(s.startup), `bare node, same moments: ${lat(s.startupBaseline)}`, `${(s.startup.p99Ms / s.startupBaseline.p99Ms).toFixed(1)}x`],
    [`/healthz while 1 of ${s.entries} entries is edited`, lat(s.reload), `bare node, same moments: ${lat(s.reloadBaseline)}`, `${(s.reload.p99Ms / s.reloadBaseline.p99Ms).toFixed(1)}x`],
    [`agents started by that edit`, String(s.reloadStarts), '1 expected', '-'],
    [`supervisor private memory per entry`, `${s.privateKbPerEntry.toFixed(0)} KB`, `supervisor with 1 entry ${(s.supervisorPrivateOneEntryKb / 1024).toFixed(1)} MB; with ${s.entries} ${(s.supervisorPrivateKb / 1024).toFixed(1)} MB`, '-'],
  ];
  console.log(`\n${renderTable(['figure', 'git-autosync', 'baseline (same run)', 'ratio'], rows)}\n\nload average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  const results = { generatedAt: new Date().toISOString(), durationS: (performance.now() - startedAt) / 1000, environment: env, settings: opts, validation, startup: s, loadAverageAtEnd: loadavg() };
  await mkdir(join(SUPERVISOR_RESULTS, '..'), { recursive: true });
  await writeFile(SUPERVISOR_RESULTS, `${JSON.stringify(roundDeep(results), null, 2)}\n`);
  console.log(`results written to ${SUPERVISOR_RESULTS}`);
}

const opts = parseOptions(process.argv.slice(2));
const watchdogMs = 5 * 60_000 + 2 * (opts.seconds * 1000 + opts.intervalMs) + opts.repos * 2_000;
const scope = new Scope();
runToCompletion(scope, 'bench', watchdogMs + opts.entries * 10_000, () => (opts.part === 'supervisor' ? supervisorMain(scope, opts) : main(scope, opts)));
