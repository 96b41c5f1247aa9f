// Hub and spokes (#17), the figures that must show: one origin (git daemon) with R small repos;
// set-up A, one hub daemon syncing them from the origin (SERVE_GIT, push webhook in) and S spoke
// daemons following it (FOLLOW_EVENTS, fetching from the hub only); set-up B, S daemons each
// syncing all R repos from the origin. A, then B, never at the same time, each measured over a
// window once everything is published. Every daemon reaches the origin through its own counting
// TCP proxy, so the origin's requests are attributed to the daemon that made them.
//
// Figures, next to baselines from the same run: (1) requests to the origin per minute, A and B,
// against one daemon's own count (the goal: with the hub, one daemon's count whatever S is);
// (2) push → published at the slowest spoke over P webhook pushes, against the hub alone (one
// hop) and raw `git fetch` from the origin and from the hub; in B, polling only (no webhook into
// S daemons): push → published at the slowest direct daemon over a few pushes at random moments;
// (3) the hub's CPU over the window and per push fan-out, and the PSS of its whole tree (agents,
// upload-packs) at idle and at its peak while S spokes fetch at once.
//
// Run: npm run bench:fanout -- [--repos 10] [--spokes 30] [--interval 10] [--window 60]
//   [--pushes 20] [--direct-pushes 5] [--memory-pushes 3] [--batch N] [--json bench/results/fanout-latest.json]
// --interval and --window are seconds. 127.0.0.1 only; every wait bounded; every process started
// is stopped by its pid and the temp dir removed, on success, failure and Ctrl-C alike.

import { createHmac } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDaemon, type RunningDaemon } from '../test/support/daemon.js';
import { startGitDaemon, type GitServer } from '../test/support/git-daemon.js';
import { git, type RemoteRepo } from '../test/support/git-repo.js';
import { parseMetrics } from '../test/support/prom.js';
import { makeTempDir, waitFor } from '../test/support/tmp.js';
import { readSyncCounts, type SyncCounts } from './support/counters.js';
import { countsBetween, startCountingProxy, type CountingProxy, type ProxyCounts } from './support/counting-proxy.js';
import { benchEnvironment } from './support/environment.js';
import { forEachLimited } from './support/limited.js';
import { childrenOf, clockTicksPerSecond } from './support/proc.js';
import { peakMemory, treeMemory, treeTicks, type TreeMemory } from './support/process-tree.js';
import { progressPrinter, requireBuilt } from './support/progress.js';
import { createSmallRepo } from './support/repos.js';
import { runToCompletion, Scope } from './support/scope.js';
import { max, median, percentile, roundDeep, seededRandom } from './support/stats.js';
import { renderTable } from './support/table.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const BRANCH = 'main';
const TOKEN = 'fanout-bench-token';
const SECRET = 'fanout-bench-secret';
/** Push → published at the slowest spoke, p95 (issue #17). */
const TARGET_P95_MS = 1000;
/** With the hub the origin sees one daemon's requests: at most this much above one direct daemon's own count. */
const TARGET_ORIGIN_RATIO = 1.2;
/** Readers sample the published link this often. */
const SAMPLE_MS = 5;
/** Pushes at least this far apart (issue #17), so one fan-out never overlaps the next. */
const PUSH_SPACING_MS = 1500;
/** The hub tree's memory is sampled this often during a memory push (not during latency pushes: sampling costs CPU). */
const MEMORY_SAMPLE_MS = 25;
/** git daemon drops connections past 32 at once (--max-connections), killing one in flight: start-up clones stay below. */
const STARTUP_CLONES = 20;
const REPO_CREATION_CONCURRENCY = 4;

interface Options {
  repos: number;
  spokes: number;
  intervalS: number;
  windowS: number;
  pushes: number;
  directPushes: number;
  memoryPushes: number;
  batch: number;
  json: string | null;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      repos: { type: 'string', default: '10' },
      spokes: { type: 'string', default: '30' },
      interval: { type: 'string', default: '10' },
      window: { type: 'string', default: '60' },
      pushes: { type: 'string', default: '20' },
      'direct-pushes': { type: 'string', default: '5' },
      'memory-pushes': { type: 'string', default: '3' },
      batch: { type: 'string' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const num = (name: string, raw: string, lo: number, hi: number, whole = true) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || (whole && !Number.isInteger(n)) || n < lo || n > hi) {
      throw new Error(`--${name} ${JSON.stringify(raw)}: must be a ${whole ? 'whole ' : ''}number from ${lo} to ${hi}`);
    }
    return n;
  };
  const repos = num('repos', values.repos, 1, 100);
  return {
    repos,
    spokes: num('spokes', values.spokes, 1, 200),
    intervalS: num('interval', values.interval, 1, 600, false),
    windowS: num('window', values.window, 5, 3600),
    pushes: num('pushes', values.pushes, 1, 1000),
    directPushes: num('direct-pushes', values['direct-pushes'], 0, 100),
    memoryPushes: num('memory-pushes', values['memory-pushes'], 0, 100),
    // Daemons started together: their first clones all at once stay under git daemon's limit.
    batch: values.batch === undefined ? Math.max(1, Math.floor(STARTUP_CLONES / repos)) : num('batch', values.batch, 1, 200),
    json: values.json === undefined ? null : resolve(values.json),
  };
}

/** What the run should take, from its settings. Start-up per batch is a guess from small runs on 2 cores (3 daemons of 2 repos: 3-5 s): 4 s plus 0.1 s per agent. */
function plan(o: Options) {
  const batches = Math.ceil(o.spokes / o.batch);
  const startupS = 8 + batches * (4 + (o.batch * o.repos) / 10);
  const settleS = o.intervalS;
  const a = startupS + settleS + o.windowS + o.pushes * (PUSH_SPACING_MS / 1000 + 0.5) + o.memoryPushes * 2 + 25;
  // A polling push waits up to an interval for its moment, then up to an interval for the last daemon.
  const b = startupS + settleS + o.windowS + o.directPushes * 1.5 * o.intervalS + 25;
  const processes = 1 + o.repos + o.spokes * (1 + o.repos);
  const expectedS = a + b + 10;
  // Every wait has its own bound; the watchdog catches whatever slips through them all.
  return { batches, expectedS, watchdogS: Math.max(600, 3 * expectedS), processesA: processes, processesB: o.spokes * (1 + o.repos) };
}

// ---- reading what is published -------------------------------------------------------------------

function published(path: string): string | null {
  try {
    return basename(readlinkSync(path));
  } catch {
    return null;
  }
}

/**
 * Milliseconds from `start` until each path names `commit`, sampling every SAMPLE_MS, at most
 * `limitMs`; null for a path that never did. `during` runs after each round of samples.
 */
async function publishTimes(paths: readonly string[], commit: string, start: number, limitMs: number, during?: () => void): Promise<Array<number | null>> {
  const times: Array<number | null> = paths.map(() => null);
  let left = paths.length;
  while (left > 0 && performance.now() - start < limitMs) {
    for (let i = 0; i < paths.length; i++) {
      if (times[i] === null && published(paths[i]!) === commit) {
        times[i] = performance.now() - start;
        left -= 1;
      }
    }
    during?.();
    if (left > 0) await delay(SAMPLE_MS);
  }
  return times;
}

/** Bounded wait until every path names any commit (a first publish). */
async function untilAllPublished(paths: readonly string[], what: string, timeoutMs: number): Promise<void> {
  await waitFor(() => paths.every((p) => published(p) !== null), {
    timeoutMs,
    intervalMs: 100,
    message: () => `${what}: ${paths.filter((p) => published(p) === null).length} of ${paths.length} paths published nothing yet`,
  });
}

// ---- daemons --------------------------------------------------------------------------------------

interface Daemon {
  label: string;
  daemon: RunningDaemon;
  base: string;
  /** Published path of each repo, in the order of `names`. */
  paths: string[];
}

interface Fixture {
  root: string;
  origin: GitServer;
  names: string[];
  repos: RemoteRepo[];
  tokenFile: string;
  secretFile: string;
  userFile: string;
}

const originUrl = (proxy: CountingProxy, name: string) => `git://127.0.0.1:${proxy.port}/${name}.git`;

async function startOne(scope: Scope, label: string, dir: string, entries: (name: string, path: string) => Record<string, unknown>, names: string[], env: NodeJS.ProcessEnv): Promise<Daemon> {
  await mkdir(join(dir, 'data'), { recursive: true });
  const paths = names.map((n) => join(dir, 'data', n));
  const listing = join(dir, 'listing.json');
  await writeFile(listing, `${JSON.stringify(names.map((n, i) => entries(n, paths[i]!)), null, 2)}\n`);
  // info, the production default: debug would log every unchanged poll of hundreds of agents.
  const daemon = startDaemon(scope, { LISTING_PATH: listing, LOG_LEVEL: 'info', ...env });
  return { label, daemon, base: await daemon.httpUrl(), paths };
}

/** `count` daemons started `batch` at a time, each batch published before the next starts. */
async function startInBatches(count: number, batch: number, what: string, start: (i: number) => Promise<Daemon>, progress: (s: string) => void): Promise<Daemon[]> {
  const out: Daemon[] = [];
  for (let first = 0; first < count; first += batch) {
    const ids = Array.from({ length: Math.min(batch, count - first) }, (_, k) => first + k);
    const t0 = performance.now();
    const started = await Promise.all(ids.map(start));
    await untilAllPublished(started.flatMap((d) => d.paths), `${what} ${ids[0]}-${ids.at(-1)}`, 120_000 + 5_000 * started.length);
    out.push(...started);
    progress(`${what}: ${out.length} of ${count} published (batch of ${ids.length} in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return out;
}

async function servedRequests(base: string): Promise<number> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const samples = parseMetrics(await res.text());
  return samples.filter((s) => s.name === 'git_autosync_serve_requests_total' && s.labels.endpoint === 'git').reduce((a, s) => a + s.value, 0);
}

const syncDelta = (a: SyncCounts, b: SyncCounts) => ({ polls: b.success + b.unchanged + b.error - (a.success + a.unchanged + a.error), errors: b.error - a.error, restarts: b.restarts - a.restarts });

async function allSyncCounts(ds: readonly Daemon[]): Promise<SyncCounts[]> {
  return Promise.all(ds.map((d) => readSyncCounts(d.base)));
}

function sumSync(a: readonly SyncCounts[], b: readonly SyncCounts[]) {
  return a.reduce((acc, x, i) => {
    const d = syncDelta(x, b[i]!);
    return { polls: acc.polls + d.polls, errors: acc.errors + d.errors, restarts: acc.restarts + d.restarts };
  }, { polls: 0, errors: 0, restarts: 0 });
}

// ---- the pushes ----------------------------------------------------------------------------------

/** The durationMs of `d`'s "published" line for `commit` of `repo`; null if it is not there within a second. */
async function syncDuration(d: Daemon, repo: string, commit: string): Promise<number | null> {
  const match = (l: { message: string; repo?: unknown; commit?: unknown }) => l.message === 'published' && l.repo === repo && l.commit === commit;
  try {
    const line = await d.daemon.waitForLog(match, `${d.label} logging the publish of ${commit}`, 1000);
    return typeof line.durationMs === 'number' ? line.durationMs : null;
  } catch {
    return null;
  }
}

async function postWebhook(base: string, cloneUrl: string): Promise<void> {
  const body = JSON.stringify({ ref: `refs/heads/${BRANCH}`, repository: { clone_url: cloneUrl } });
  const sig = createHmac('sha256', SECRET).update(body).digest('hex');
  const res = await fetch(`${base}/webhook/github`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sig}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 202) throw new Error(`the hub's webhook answered HTTP ${res.status}: ${await res.text()}`);
}

interface RawFetch {
  lsRemoteMs: number;
  fetchMs: number;
}

/** Raw git from `url`: ls-remote of the branch, then a shallow fetch of it into `scratch`. */
async function rawGit(scratch: string, url: string, config: string[] = []): Promise<RawFetch> {
  const t0 = performance.now();
  await git(scratch, [...config, 'ls-remote', url, `refs/heads/${BRANCH}`]);
  const t1 = performance.now();
  await git(scratch, [...config, 'fetch', '--quiet', '--depth', '1', url, BRANCH]);
  return { lsRemoteMs: t1 - t0, fetchMs: performance.now() - t1 };
}

interface FanOut {
  repo: string;
  hubMs: number | null;
  /** The sync itself, as each daemon logs it ("published", durationMs): the rest of a spoke's time is the news reaching it. */
  hubSyncMs: number | null;
  spokeSyncMs: { median: number; max: number } | null;
  fastestSpokeMs: number | null;
  slowestSpokeMs: number | null;
  missed: number;
  hubCpuS: number;
  rawOrigin: RawFetch;
  rawHub: RawFetch;
}

// ---- set-up A: hub and spokes ---------------------------------------------------------------------

interface WindowFigures {
  windowS: number;
  /** Origin connections in the window, per daemon that made them (A: the hub only). */
  origin: Array<{ label: string } & ProxyCounts>;
  cpuS: { hub: number; spokesOrDirect: number; originGitDaemon: number };
  syncs: { hub: ReturnType<typeof sumSync> | null; others: ReturnType<typeof sumSync> };
  hubServedRequests: number | null;
  memory: { hub: TreeMemory | null; others: TreeMemory };
}

async function measureWindow(
  o: Options,
  hz: number,
  origin: GitServer,
  hub: Daemon | null,
  others: readonly Daemon[],
  proxies: ReadonlyArray<{ label: string; proxy: CountingProxy }>,
  progress: (s: string) => void,
): Promise<WindowFigures> {
  progress(`letting the first polls pass (${o.intervalS} s), then measuring for ${o.windowS} s`);
  await delay(o.intervalS * 1000);
  const hubPids = hub === null ? [] : [hub.daemon.pid];
  const otherPids = others.map((d) => d.daemon.pid);
  const sync0 = await allSyncCounts(others);
  const hubSync0 = hub === null ? null : await readSyncCounts(hub.base);
  const served0 = hub === null ? null : await servedRequests(hub.base);
  const cpu0 = { hub: treeTicks(hubPids), others: treeTicks(otherPids), origin: treeTicks([origin.pid]) };
  const counts0 = proxies.map((p) => p.proxy.counts());
  const t0 = performance.now();
  await delay(o.windowS * 1000);
  const counts1 = proxies.map((p) => p.proxy.counts());
  const t1 = performance.now();
  const cpu1 = { hub: treeTicks(hubPids), others: treeTicks(otherPids), origin: treeTicks([origin.pid]) };
  const served1 = hub === null ? null : await servedRequests(hub.base);
  const hubSync1 = hub === null ? null : await readSyncCounts(hub.base);
  const sync1 = await allSyncCounts(others);
  return {
    windowS: (t1 - t0) / 1000,
    origin: proxies.map((p, i) => ({ label: p.label, ...countsBetween(counts0[i]!, counts1[i]!) })),
    cpuS: { hub: (cpu1.hub - cpu0.hub) / hz, spokesOrDirect: (cpu1.others - cpu0.others) / hz, originGitDaemon: (cpu1.origin - cpu0.origin) / hz },
    syncs: { hub: hubSync0 === null || hubSync1 === null ? null : sumSync([hubSync0], [hubSync1]), others: sumSync(sync0, sync1) },
    hubServedRequests: served0 === null || served1 === null ? null : served1 - served0,
    memory: { hub: hub === null ? null : treeMemory(hubPids), others: treeMemory(otherPids) },
  };
}

interface HubRun {
  startupS: number;
  window: WindowFigures;
  fanOuts: FanOut[];
  memoryPeak: TreeMemory | null;
  memoryPushCpuS: number[];
}

async function runHub(parent: Scope, f: Fixture, o: Options, hz: number, progress: (s: string) => void): Promise<HubRun> {
  const scope = parent.child();
  const started = performance.now();
  const proxy = await startCountingProxy(scope, f.origin.port);
  const hub = await startOne(
    scope,
    'hub',
    join(f.root, 'a', 'hub'),
    (name, path) => ({ name, path, repo: originUrl(proxy, name), branch: BRANCH }),
    f.names,
    { SCRAPE_INTERVAL: String(o.intervalS * 1000), SERVE_GIT: 'true', SERVE_TOKEN_FILE: f.tokenFile, WEBHOOK_SECRET_FILE: f.secretFile },
  );
  await untilAllPublished(hub.paths, 'the hub', 120_000);
  progress(`A: the hub published all ${f.names.length} repos (${((performance.now() - started) / 1000).toFixed(1)} s); starting ${o.spokes} spokes, ${Math.min(o.batch, o.spokes)} at a time`);
  const spokes = await startInBatches(
    o.spokes,
    o.batch,
    'A: spokes',
    (i) =>
      startOne(
        scope,
        `spoke-${i}`,
        join(f.root, 'a', `spoke-${i}`),
        (name, path) => ({ name, path, repo: `${hub.base}/git/${name}`, branch: BRANCH, usernameFile: f.userFile, passwordFile: f.tokenFile }),
        f.names,
        { SCRAPE_INTERVAL: String(o.intervalS * 1000), FOLLOW_EVENTS: `${hub.base}/events`, FOLLOW_TOKEN_FILE: f.tokenFile },
      ),
    progress,
  );
  // A spoke that is not following the stream would measure its polling, not the fan-out.
  await forEachLimited(spokes.length, 8, async (i) => {
    const sp = spokes[i]!;
    await waitFor(async () => ((await (await fetch(`${sp.base}/status/${f.names[0]!}`)).json()) as { hub?: { stream?: string } }).hub?.stream === 'connected', {
      timeoutMs: 60_000,
      message: `${sp.label} following the hub's /events`,
    });
  });
  const startupS = (performance.now() - started) / 1000;
  progress(`A: hub and ${spokes.length} spokes published and following after ${startupS.toFixed(1)} s`);

  const window = await measureWindow(o, hz, f.origin, hub, spokes, [{ label: 'hub', proxy }], progress);

  progress(`A: ${o.pushes} pushes, webhook into the hub, clock until every spoke names the commit`);
  const rawOriginDir = join(f.root, 'raw-origin');
  const rawHubDir = join(f.root, 'raw-hub');
  for (const dir of [rawOriginDir, rawHubDir]) {
    await mkdir(dir);
    await git(dir, ['init', '--quiet']);
  }
  const bearer = ['-c', `http.extraHeader=Authorization: Bearer ${TOKEN}`];
  const fanOuts: FanOut[] = [];
  const spokePaths = (r: number) => spokes.map((s) => s.paths[r]!);
  for (let p = 0; p < o.pushes; p++) {
    const r = p % f.names.length;
    const name = f.names[r]!;
    const began = performance.now();
    const ticks0 = treeTicks([hub.daemon.pid]);
    const sha = await f.repos[r]!.commit({ 'src/main.txt': `push ${p}\n` }, `push ${p}`);
    // The clock starts when the push has landed, as a git host would then call the hub.
    const start = performance.now();
    await postWebhook(hub.base, originUrl(proxy, name));
    const times = await publishTimes([hub.paths[r]!, ...spokePaths(r)], sha, start, 30_000);
    const hubCpuS = (treeTicks([hub.daemon.pid]) - ticks0) / hz;
    const spokeTimes = times.slice(1);
    const spokeSyncs = (await Promise.all(spokes.map((sp) => syncDuration(sp, name, sha)))).filter((x): x is number => x !== null);
    const seen = spokeTimes.filter((x): x is number => x !== null);
    // Raw git, after the fan-out (never during it): the origin direct (not through the proxy), and the hub.
    const rawOrigin = await rawGit(rawOriginDir, f.origin.url(name));
    const rawHub = await rawGit(rawHubDir, `${hub.base}/git/${name}`, bearer);
    const fo: FanOut = {
      repo: name,
      hubMs: times[0] ?? null,
      hubSyncMs: await syncDuration(hub, name, sha),
      spokeSyncMs: spokeSyncs.length === 0 ? null : { median: median(spokeSyncs), max: max(spokeSyncs) },
      fastestSpokeMs: seen.length === 0 ? null : Math.min(...seen),
      slowestSpokeMs: seen.length === spokeTimes.length ? Math.max(...seen) : null,
      missed: spokeTimes.length - seen.length,
      hubCpuS,
      rawOrigin,
      rawHub,
    };
    fanOuts.push(fo);
    const ms = (x: number | null) => (x === null ? 'missed' : `${x.toFixed(0)} ms`);
    progress(
      `A: push ${p + 1}/${o.pushes} ${name}: hub ${ms(fo.hubMs)} (its sync ${ms(fo.hubSyncMs)}), spokes ${ms(fo.fastestSpokeMs)}..${ms(fo.slowestSpokeMs)}` +
        ` (their syncs median ${ms(fo.spokeSyncMs?.median ?? null)}, max ${ms(fo.spokeSyncMs?.max ?? null)})${fo.missed > 0 ? ` (${fo.missed} missed)` : ''}, hub CPU ${hubCpuS.toFixed(2)} s`,
    );
    await delay(Math.max(0, PUSH_SPACING_MS - (performance.now() - began)));
  }

  let memoryPeak: TreeMemory | null = null;
  const memoryPushCpuS: number[] = [];
  for (let p = 0; p < o.memoryPushes; p++) {
    const r = (o.pushes + p) % f.names.length;
    const name = f.names[r]!;
    const began = performance.now();
    const ticks0 = treeTicks([hub.daemon.pid]);
    const sha = await f.repos[r]!.commit({ 'src/main.txt': `memory push ${p}\n` }, `memory push ${p}`);
    const start = performance.now();
    await postWebhook(hub.base, originUrl(proxy, name));
    let lastSample = 0;
    const times = await publishTimes([hub.paths[r]!, ...spokePaths(r)], sha, start, 30_000, () => {
      if (performance.now() - lastSample < MEMORY_SAMPLE_MS) return;
      lastSample = performance.now();
      const m = treeMemory([hub.daemon.pid]);
      memoryPeak = memoryPeak === null ? m : peakMemory(memoryPeak, m);
    });
    memoryPushCpuS.push((treeTicks([hub.daemon.pid]) - ticks0) / hz);
    if (times.some((x) => x === null)) progress(`A: memory push ${p + 1}: ${times.filter((x) => x === null).length} paths missed it`);
    await delay(Math.max(0, PUSH_SPACING_MS - (performance.now() - began)));
  }
  if (o.memoryPushes > 0) progress(`A: peak hub tree PSS during ${o.memoryPushes} fan-outs: ${memoryPeak === null ? '-' : mbOf((memoryPeak as TreeMemory).pssKb)}`);

  progress('A: stopping the hub and spokes');
  // All at once (each stop is idempotent; the scope's own steps would stop them one by one).
  await Promise.all([hub, ...spokes].map((d) => d.daemon.stop()));
  await scope.close();
  return { startupS, window, fanOuts, memoryPeak, memoryPushCpuS };
}

// ---- set-up B: every daemon direct ----------------------------------------------------------------

interface DirectRun {
  startupS: number;
  window: WindowFigures;
  /** Push → published at the slowest / fastest direct daemon, polling. */
  pushes: Array<{ repo: string; slowestMs: number | null; fastestMs: number | null; missed: number }>;
}

async function runDirect(parent: Scope, f: Fixture, o: Options, hz: number, progress: (s: string) => void): Promise<DirectRun> {
  const scope = parent.child();
  const started = performance.now();
  const proxies: Array<{ label: string; proxy: CountingProxy }> = [];
  progress(`B: starting ${o.spokes} direct daemons, ${Math.min(o.batch, o.spokes)} at a time`);
  const direct = await startInBatches(
    o.spokes,
    o.batch,
    'B: direct daemons',
    async (i) => {
      const proxy = await startCountingProxy(scope, f.origin.port);
      proxies[i] = { label: `direct-${i}`, proxy };
      return startOne(scope, `direct-${i}`, join(f.root, 'b', `direct-${i}`), (name, path) => ({ name, path, repo: originUrl(proxy, name), branch: BRANCH }), f.names, {
        SCRAPE_INTERVAL: String(o.intervalS * 1000),
      });
    },
    progress,
  );
  const startupS = (performance.now() - started) / 1000;
  progress(`B: ${direct.length} direct daemons published after ${startupS.toFixed(1)} s`);

  const window = await measureWindow(o, hz, f.origin, null, direct, proxies, progress);

  const pushes: DirectRun['pushes'] = [];
  const random = seededRandom(17);
  if (o.directPushes > 0) progress(`B: ${o.directPushes} pushes at random moments, polling only (no webhook), clock until every direct daemon names the commit`);
  for (let p = 0; p < o.directPushes; p++) {
    const r = p % f.names.length;
    const name = f.names[r]!;
    await delay(random() * o.intervalS * 1000);
    const sha = await f.repos[r]!.commit({ 'src/main.txt': `direct push ${p}\n` }, `direct push ${p}`);
    const start = performance.now();
    const times = await publishTimes(direct.map((d) => d.paths[r]!), sha, start, o.intervalS * 1000 * 1.2 + 30_000);
    const seen = times.filter((x): x is number => x !== null);
    const push = { repo: name, slowestMs: seen.length === times.length ? Math.max(...seen) : null, fastestMs: seen.length === 0 ? null : Math.min(...seen), missed: times.length - seen.length };
    pushes.push(push);
    progress(`B: push ${p + 1}/${o.directPushes} ${name}: ${push.fastestMs?.toFixed(0) ?? 'missed'}..${push.slowestMs?.toFixed(0) ?? 'missed'} ms`);
  }
  progress('B: stopping the direct daemons');
  await Promise.all(direct.map((d) => d.daemon.stop()));
  await scope.close();
  return { startupS, window, pushes };
}

// ---- report -----------------------------------------------------------------------------------

const mbOf = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const perMin = (count: number, windowS: number) => (count * 60) / windowS;
const msOf = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : '-');
const pcts = (xs: readonly number[]) => ({ n: xs.length, p50Ms: percentile(xs, 50), p95Ms: percentile(xs, 95), maxMs: max(xs) });
const pctText = (p: ReturnType<typeof pcts>) => `p50 ${msOf(p.p50Ms)}, p95 ${msOf(p.p95Ms)} (max ${msOf(p.maxMs)}, n ${p.n})`;
const cpuText = (s: number, windowS: number) => `${s.toFixed(2)} s = ${((100 * s) / windowS).toFixed(1)}% of a core`;

function figures(o: Options, a: HubRun, b: DirectRun) {
  const hubOrigin = a.window.origin[0]!;
  const directPerDaemon = b.window.origin.map((x) => perMin(x.connections, b.window.windowS));
  const directTotal = b.window.origin.reduce((s, x) => s + x.connections, 0);
  const complete = a.fanOuts.filter((x) => x.slowestSpokeMs !== null);
  const slowest = complete.map((x) => x.slowestSpokeMs!);
  const hubAlone = a.fanOuts.filter((x) => x.hubMs !== null).map((x) => x.hubMs!);
  const missedPushes = a.fanOuts.length - complete.length;
  const directSlowest = b.pushes.filter((x) => x.slowestMs !== null).map((x) => x.slowestMs!);
  const originPerMinA = perMin(hubOrigin.connections, a.window.windowS);
  const oneDirectPerMin = median(directPerDaemon);
  return {
    origin: {
      nominalPerDaemonPerMin: (o.repos * 60) / o.intervalS,
      hubSetupPerMin: originPerMinA,
      directSetupPerMin: perMin(directTotal, b.window.windowS),
      oneDirectDaemonPerMin: { median: oneDirectPerMin, min: Math.min(...directPerDaemon), max: Math.max(...directPerDaemon) },
      ratioHubToOneDaemon: oneDirectPerMin > 0 ? originPerMinA / oneDirectPerMin : Number.NaN,
      bytesPerMin: { hubSetup: perMin(hubOrigin.bytesFromTarget, a.window.windowS), directSetup: perMin(b.window.origin.reduce((s, x) => s + x.bytesFromTarget, 0), b.window.windowS) },
      hubServedPerMin: a.window.hubServedRequests === null ? null : perMin(a.window.hubServedRequests, a.window.windowS),
      // Free of the polls' phase in a short window: what each poll costs the origin.
      perPoll: {
        hub: a.window.syncs.hub === null || a.window.syncs.hub.polls === 0 ? Number.NaN : hubOrigin.connections / a.window.syncs.hub.polls,
        direct: b.window.syncs.others.polls === 0 ? Number.NaN : directTotal / b.window.syncs.others.polls,
      },
    },
    latency: {
      slowestSpoke: pcts(slowest),
      fastestSpoke: pcts(complete.map((x) => x.fastestSpokeMs!)),
      hubAlone: pcts(hubAlone),
      hubSync: pcts(a.fanOuts.flatMap((x) => (x.hubSyncMs === null ? [] : [x.hubSyncMs]))),
      spokeSyncMedian: pcts(a.fanOuts.flatMap((x) => (x.spokeSyncMs === null ? [] : [x.spokeSyncMs.median]))),
      missedPushes,
      rawOriginFetch: pcts(a.fanOuts.map((x) => x.rawOrigin.fetchMs)),
      rawOriginLsRemote: pcts(a.fanOuts.map((x) => x.rawOrigin.lsRemoteMs)),
      rawHubFetch: pcts(a.fanOuts.map((x) => x.rawHub.fetchMs)),
      rawHubLsRemote: pcts(a.fanOuts.map((x) => x.rawHub.lsRemoteMs)),
      directPollingSlowest: pcts(directSlowest),
      directMissed: b.pushes.length - directSlowest.length,
      pass: missedPushes === 0 && slowest.length > 0 && percentile(slowest, 95) <= TARGET_P95_MS,
    },
    hubCpuPerPushS: { median: median(a.fanOuts.map((x) => x.hubCpuS)), max: max(a.fanOuts.map((x) => x.hubCpuS)) },
  };
}

function rows(o: Options, a: HubRun, b: DirectRun, fig: ReturnType<typeof figures>): string[][] {
  const aw = a.window;
  const bw = b.window;
  const org = fig.origin;
  const lat = fig.latency;
  const per = (x: number) => `${x.toFixed(0)}/min`;
  return [
    [
      'requests to the origin',
      `${per(org.hubSetupPerMin)} (hub only)`,
      `${per(org.directSetupPerMin)} (${o.spokes} daemons)`,
      `one direct daemon: ${per(org.oneDirectDaemonPerMin.median)} (min ${per(org.oneDirectDaemonPerMin.min)}, max ${per(org.oneDirectDaemonPerMin.max)}); nominal R x 60/I = ${per(org.nominalPerDaemonPerMin)}`,
      `A <= ${TARGET_ORIGIN_RATIO}x one daemon`,
      `${org.ratioHubToOneDaemon.toFixed(2)}x ${org.ratioHubToOneDaemon <= TARGET_ORIGIN_RATIO ? 'PASS' : 'FAIL'}`,
    ],
    ['origin requests per poll (hub / direct daemons)', `${org.perPoll.hub.toFixed(2)}`, `${org.perPoll.direct.toFixed(2)}`, 'spokes poll the hub, never the origin', '-', 'info'],
    ['bytes from the origin', `${(org.bytesPerMin.hubSetup / 1024).toFixed(0)} KB/min`, `${(org.bytesPerMin.directSetup / 1024).toFixed(0)} KB/min`, '-', '-', 'info'],
    ['git requests served by the hub (spokes polling it)', org.hubServedPerMin === null ? '-' : per(org.hubServedPerMin), '-', `${o.spokes} spokes x ${o.repos} repos @ ${o.intervalS} s`, '-', 'info'],
    [
      'push -> published, slowest spoke (webhook into hub)',
      pctText(lat.slowestSpoke) + (lat.missedPushes > 0 ? `; ${lat.missedPushes} pushes missed by a spoke` : ''),
      o.directPushes === 0 ? 'skipped' : `polling @ ${o.intervalS} s, slowest daemon: ${pctText(lat.directPollingSlowest)}${lat.directMissed > 0 ? `; ${lat.directMissed} missed` : ''}`,
      `hub alone (one hop): ${pctText(lat.hubAlone)}; fastest spoke p50 ${msOf(lat.fastestSpoke.p50Ms)}`,
      `p95 <= ${TARGET_P95_MS} ms`,
      lat.pass ? 'PASS' : 'FAIL',
    ],
    [
      'where a push\'s time goes: the syncs themselves (their logs)',
      `hub's sync p50 ${msOf(lat.hubSync.p50Ms)}; a spoke's sync p50 ${msOf(lat.spokeSyncMedian.p50Ms)} (median over spokes)`,
      '-',
      'the rest: webhook, event stream, waiting for a turn',
      '-',
      'info',
    ],
    [
      'raw git, same run (after each fan-out)',
      `from the hub: ls-remote p50 ${msOf(lat.rawHubLsRemote.p50Ms)}, fetch --depth 1 p50 ${msOf(lat.rawHubFetch.p50Ms)} p95 ${msOf(lat.rawHubFetch.p95Ms)}`,
      '-',
      `from the origin: ls-remote p50 ${msOf(lat.rawOriginLsRemote.p50Ms)}, fetch --depth 1 p50 ${msOf(lat.rawOriginFetch.p50Ms)} p95 ${msOf(lat.rawOriginFetch.p95Ms)}`,
      '-',
      'info',
    ],
    ['hub tree CPU over the window', cpuText(aw.cpuS.hub, aw.windowS), '-', `one direct daemon (average of ${o.spokes}): ${cpuText(bw.cpuS.spokesOrDirect / o.spokes, bw.windowS)}`, '-', 'info'],
    ['hub tree CPU per push fan-out', `median ${fig.hubCpuPerPushS.median.toFixed(2)} s, max ${fig.hubCpuPerPushS.max.toFixed(2)} s`, '-', `${o.spokes} spokes fetch one repo each`, '-', 'info'],
    ['CPU of all spokes / all direct daemons over the window', cpuText(aw.cpuS.spokesOrDirect, aw.windowS), cpuText(bw.cpuS.spokesOrDirect, bw.windowS), '-', '-', 'info'],
    ['origin git daemon CPU over the window', cpuText(aw.cpuS.originGitDaemon, aw.windowS), cpuText(bw.cpuS.originGitDaemon, bw.windowS), '-', '-', 'info'],
    [
      'hub tree PSS: idle / peak while spokes fetch at once',
      `${aw.memory.hub === null ? '-' : mbOf(aw.memory.hub.pssKb)} (${aw.memory.hub?.processes ?? '-'} processes) / ${a.memoryPeak === null ? 'not measured' : `${mbOf(a.memoryPeak.pssKb)} (up to ${a.memoryPeak.processes} processes, ${a.memoryPeak.uploadPacks} upload-packs)`}`,
      '-',
      `one direct daemon (average): ${mbOf(bw.memory.others.pssKb / o.spokes)}`,
      '-',
      'info',
    ],
    ['PSS of all spokes / all direct daemons', `${mbOf(aw.memory.others.pssKb)} (${aw.memory.others.processes} processes)`, `${mbOf(bw.memory.others.pssKb)} (${bw.memory.others.processes} processes)`, '-', '-', 'info'],
    [
      'syncs in the window (errors)',
      `hub ${aw.syncs.hub?.polls ?? '-'} (${aw.syncs.hub?.errors ?? '-'}), spokes ${aw.syncs.others.polls} (${aw.syncs.others.errors})`,
      `${bw.syncs.others.polls} (${bw.syncs.others.errors})`,
      `nominal per daemon ${((o.repos * aw.windowS) / o.intervalS).toFixed(0)}`,
      '-',
      aw.syncs.others.errors + (aw.syncs.hub?.errors ?? 0) + bw.syncs.others.errors === 0 ? 'info' : 'WARN',
    ],
    ['start-up until all published', `${a.startupS.toFixed(0)} s`, `${b.startupS.toFixed(0)} s`, `batches of ${o.batch} daemons`, '-', 'info'],
  ];
}

function notes(o: Options, a: HubRun, b: DirectRun, fig: ReturnType<typeof figures>, loadAtStart: number, cpus: number): string[] {
  const out: string[] = [];
  if (loadAtStart > cpus) out.push(`WARNING: load ${loadAtStart} at the start on ${cpus} cores: other work shares the machine, and its noise is in the latency and CPU figures`);
  // Each entry polls every interval (up to 10% early): a window of few intervals counts 1 or 2 polls per entry, by phase.
  if (o.windowS < 6 * o.intervalS) out.push(`WARNING: a window of ${o.windowS} s is under 6 intervals (${o.intervalS} s): the origin counts are quantized by the polls' phase; compare them loosely`);
  const errors = a.window.syncs.others.errors + (a.window.syncs.hub?.errors ?? 0) + b.window.syncs.others.errors;
  if (errors > 0) out.push(`WARNING: ${errors} failed syncs in the windows: a failed poll costs less than a good one`);
  const restarts = a.window.syncs.others.restarts + (a.window.syncs.hub?.restarts ?? 0) + b.window.syncs.others.restarts;
  if (restarts > 0) out.push(`WARNING: ${restarts} agent restarts in the windows`);
  if (fig.latency.missedPushes > 0 || fig.latency.directMissed > 0) out.push(`WARNING: pushes some daemon never published within the bound: A ${fig.latency.missedPushes}, B ${fig.latency.directMissed} (left out of the percentiles; A then fails its target)`);
  out.push('B is measured by polling only (no webhook into its daemons): push -> published there is up to an interval, by design');
  return out;
}

/**
 * `git daemon` runs git-daemon as its child. On Ctrl-C the tests' children.ts SIGKILLs what we
 * spawned (the `git` parent) and exits at once, which would leave that child listening: it is
 * killed on the way out too, by pid, if its command line still names our folder (not a reused pid).
 */
function killOnExit(pids: readonly number[], mark: string): void {
  process.once('exit', () => {
    for (const pid of pids) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(mark)) process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });
}

// ---- main -------------------------------------------------------------------------------------

async function main(scope: Scope, o: Options): Promise<void> {
  requireBuilt(CLI);
  const startedAt = performance.now();
  const progress = progressPrinter();
  const hz = clockTicksPerSecond();
  const env = benchEnvironment();
  const p = plan(o);
  progress(
    `${env.cpus} cpus, load ${env.loadAverageAtStart.join(' ')}, ${env.memoryMb} MB; ${o.repos} repos, ${o.spokes} spokes, interval ${o.intervalS} s, window ${o.windowS} s, ` +
      `${o.pushes} pushes (+${o.memoryPushes} for memory), ${o.directPushes} direct polling pushes; ${p.batches} batches of ${o.batch}; ` +
      `up to ${p.processesA} node processes at once (A), ${p.processesB} (B); expected about ${Math.ceil(p.expectedS / 60)} min, stopped at ${Math.ceil(p.watchdogS / 60)} min at the latest`,
  );

  const root = await makeTempDir(scope, 'gas-fanout-');
  const serveRoot = join(root, 'remotes');
  await mkdir(serveRoot);
  const origin = await startGitDaemon(scope, serveRoot);
  killOnExit(childrenOf(origin.pid), serveRoot);
  const names = Array.from({ length: o.repos }, (_, i) => `repo-${String(i).padStart(2, '0')}`);
  const repos: RemoteRepo[] = [];
  await forEachLimited(o.repos, REPO_CREATION_CONCURRENCY, async (i) => {
    repos[i] = (await createSmallRepo(serveRoot, names[i]!)).repo;
  });
  const fixture: Fixture = { root, origin, names, repos, tokenFile: join(root, 'token'), secretFile: join(root, 'webhook-secret'), userFile: join(root, 'spoke-user') };
  await writeFile(fixture.tokenFile, `${TOKEN}\n`);
  await writeFile(fixture.secretFile, SECRET);
  await writeFile(fixture.userFile, 'spoke\n');

  // A, then B: never both at once, so neither competes with the other for the machine.
  const a = await runHub(scope, fixture, o, hz, progress);
  const b = await runDirect(scope, fixture, o, hz, progress);

  const fig = figures(o, a, b);
  const table = renderTable(['figure', 'A: hub + spokes', 'B: direct', 'baseline (same run)', 'target', 'pass'], rows(o, a, b, fig));
  const loadAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
  const durationS = (performance.now() - startedAt) / 1000;
  const warnings = notes(o, a, b, fig, env.loadAverageAtStart[0] ?? 0, env.cpus);
  const machine = `machine: ${env.cpus} x ${env.cpuModel}, ${env.memoryMb} MB; load ${env.loadAverageAtStart.join(' ')} at start, ${loadAtEnd.join(' ')} at end; ${env.node}, ${env.git}; ran ${durationS.toFixed(0)} s`;
  console.log(`\n${table}\n\n${[...warnings, machine].join('\n')}\n`);

  if (o.json !== null) {
    const results = {
      generatedAt: new Date().toISOString(),
      durationS,
      environment: { ...env, loadAverageAtEnd: loadAtEnd, clockTicksPerSecond: hz },
      settings: { ...o, json: undefined, targets: { p95Ms: TARGET_P95_MS, originRatio: TARGET_ORIGIN_RATIO }, sampleMs: SAMPLE_MS, pushSpacingMs: PUSH_SPACING_MS, directPushes: 'polling only, no webhook', memoryUnit: 'KB = 2^10 bytes' },
      figures: fig,
      warnings,
      raw: { hub: a, direct: b },
    };
    await mkdir(dirname(o.json), { recursive: true });
    await writeFile(o.json, `${JSON.stringify(roundDeep(results), null, 2)}\n`);
    console.log(`results written to ${o.json}`);
  }
}

const opts = parseOptions(process.argv.slice(2));
const scope = new Scope();
runToCompletion(scope, 'fanout', plan(opts).watchdogS * 1000, () => main(scope, opts));
