// Benchmarks five branches of one large repository synced into one folder: the daemon with shared
// object stores off and on, each next to the raw git it stands for, all measured in the same run
// (one variant at a time, never two at once): bytes the server sent, disk used, and the time until
// all five are published. Prints a table and writes the same results to
// bench/results/shared-store-latest.json (shared-store-trial.json for runs smaller than the
// default). Run: `npm run build && npx tsx bench/shared-store.ts [--files N] [--rounds N]`.
// Bytes are counted by a TCP proxy in front of `git daemon`, so every client is measured the same
// way; disk is `du -sk` (real blocks, hard links once) of a fresh folder per run.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { appendFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDaemon } from '../test/support/daemon.js';
import { startGitDaemon } from '../test/support/git-daemon.js';
import { git } from '../test/support/git-repo.js';
import { makeTempDir } from '../test/support/tmp.js';
import { createLargeRepo } from './support/repos.js';
import { progressPrinter, requireBuilt } from './support/progress.js';
import { runToCompletion, Scope } from './support/scope.js';
import { max, median, min, ratio, roundDeep } from './support/stats.js';
import { benchEnvironment, distFingerprint } from './support/environment.js';
import { renderTable } from './support/table.js';

const DEFAULT_FILES = 5_000;
const DEFAULT_ROUNDS = 3;
const MAX_DIRS = 100;
const BRANCHES = ['b1', 'b2', 'b3', 'b4', 'b5'] as const;
/** Files each branch changes on top of the shared commit, different ones per branch. */
const CHANGED_PER_BRANCH = 50;
// Large, so no poll of the daemon's own runs into the measurement.
const SCRAPE_INTERVAL_MS = 60_000;
const LINK_POLL_MS = 20;
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

interface Options {
  files: number;
  rounds: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: { files: { type: 'string', default: String(DEFAULT_FILES) }, rounds: { type: 'string', default: String(DEFAULT_ROUNDS) } },
    strict: true,
  });
  const int = (name: string, raw: string, lo: number, hi: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`--${name} ${JSON.stringify(raw)}: must be a whole number from ${lo} to ${hi}`);
    return n;
  };
  return { files: int('files', values.files, 50, 200_000), rounds: int('rounds', values.rounds, 1, 50) };
}

// ---- the byte-counting proxy --------------------------------------------------------------------

interface Traffic {
  /** Bytes the server sent to clients: what "bytes fetched" means here. */
  toClients: number;
  /** Bytes clients sent to the server (wants, haves, ref prefixes). */
  toServer: number;
  connections: number;
}

interface CountingProxy {
  readonly port: number;
  /** Traffic since the last take(), and starts counting afresh. */
  take(): Traffic;
  /** Connections still open: a run's count is read only once its clients are all gone. */
  open(): number;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `git daemon` that counts the bytes each way. Half-open is
 * allowed on both legs so a client that shuts down its write side still gets the whole reply.
 */
async function startCountingProxy(scope: Scope, targetPort: number): Promise<CountingProxy> {
  let traffic: Traffic = { toClients: 0, toServer: 0, connections: 0 };
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    traffic.connections += 1;
    const upstream = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    track(client);
    track(upstream);
    client.on('data', (chunk: Buffer) => (traffic.toServer += chunk.length));
    upstream.on('data', (chunk: Buffer) => (traffic.toClients += chunk.length));
    // A reset on one leg ends the other; without this the pair would linger half-dead.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  scope.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`proxy: unexpected address ${JSON.stringify(address)}`);
  return {
    port: address.port,
    take() {
      const t = traffic;
      traffic = { toClients: 0, toServer: 0, connections: 0 };
      return t;
    },
    open: () => sockets.size,
  };
}

// ---- the repository -----------------------------------------------------------------------------

interface Branch {
  name: string;
  commit: string;
  /** A file this branch changed, and a line only its tip has there: proof the right tree is out. */
  markerFile: string;
  marker: string;
}

interface Fixture {
  url: string;
  files: number;
  dirs: number;
  bytes: number;
  changedPerBranch: number;
  branches: Branch[];
  /** Size of the served bare repository, for scale. */
  servedKb: number;
}

/**
 * One commit of `files` files, then b1..b5 from it, each with one commit of its own that changes
 * different files: most objects are shared, every branch has its own tip.
 */
async function createFixture(serveRoot: string, files: number, proxyPort: number): Promise<Fixture> {
  const dirs = Math.min(MAX_DIRS, files);
  const large = await createLargeRepo(serveRoot, 'big', files, dirs);
  const { repo } = large;
  const all = (await git(repo.workDir, ['ls-tree', '-r', '--name-only', 'HEAD'])).split('\n').filter((p) => p !== '');
  const changed = Math.min(CHANGED_PER_BRANCH, Math.floor(all.length / BRANCHES.length));
  // Spread each branch's files over the whole tree (so many folders' trees change), interleaved
  // between branches so no two branches touch the same file.
  const stride = Math.floor(all.length / (changed * BRANCHES.length));
  const branches: Branch[] = [];
  for (const [k, name] of BRANCHES.entries()) {
    await repo.switchBranch(name, { create: true, from: large.sha });
    const marker = `// changed on branch ${name}`;
    const paths = Array.from({ length: changed }, (_, j) => all[(j * BRANCHES.length + k) * stride]!);
    const edits: Record<string, string> = {};
    for (const p of paths) edits[p] = `${await readFile(join(repo.workDir, p), 'utf8')}\n${marker}\n`;
    const commit = await repo.commit(edits, `branch ${name}: change ${changed} files`);
    branches.push({ name, commit, markerFile: paths[0]!, marker });
  }
  const servedKb = await diskKb(repo.bareDir);
  return { url: `git://127.0.0.1:${proxyPort}/big.git`, files: large.files, dirs, bytes: large.bytes, changedPerBranch: changed, branches, servedKb };
}

// ---- measuring a volume ---------------------------------------------------------------------------

function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** Real blocks in use under `dir`, a hard-linked file counted once (what `du -sk` prints). */
async function diskKb(dir: string): Promise<number> {
  const kb = Number((await run('du', ['-sk', dir])).split('\t')[0]);
  if (!Number.isFinite(kb)) throw new Error(`du -sk ${dir}: no number`);
  return kb;
}

/** Regular files under `dir`, symlinks not followed. */
async function fileCount(dir: string): Promise<number> {
  const out = await run('find', [dir, '-type', 'f', '-printf', '.']);
  return out.length;
}

/** Which on-disk layout a daemon run left behind: shared stores, or a bare repo per entry. */
interface Layout {
  /** Repositories (`*.git`) under `.git-autosync-stores/`. */
  sharedStores: number;
  /** Everything in that folder (stores, their lock files), for the record. */
  storeFolder: string[];
  /** Entries with a bare repo of their own, `.<name>.git-autosync/repo.git`. */
  perEntryRepos: number;
}

async function layoutOf(vol: string): Promise<Layout> {
  const storeFolder = (await readdir(join(vol, '.git-autosync-stores')).catch(() => [])).sort();
  const perEntryRepos = BRANCHES.filter((b) => existsSync(join(vol, `.${b}.git-autosync`, 'repo.git'))).length;
  return { sharedStores: storeFolder.filter((n) => n.endsWith('.git')).length, storeFolder, perEntryRepos };
}

/** Checks each published path has its branch's commit and marker, as a reader would open it. */
async function verifyPublished(vol: string, branches: readonly Branch[]): Promise<void> {
  for (const b of branches) {
    const head = await git(join(vol, b.name), ['rev-parse', 'HEAD']);
    if (head !== b.commit) throw new Error(`${join(vol, b.name)}: HEAD is ${head}, expected ${b.commit} (branch ${b.name})`);
    if (!hasMarker(vol, b)) throw new Error(`${join(vol, b.name, b.markerFile)} lacks "${b.marker}"`);
  }
}

function hasMarker(vol: string, b: Branch): boolean {
  try {
    return readFileSync(join(vol, b.name, b.markerFile), 'utf8').includes(b.marker);
  } catch {
    return false;
  }
}

// ---- the four variants --------------------------------------------------------------------------

const VARIANTS = ['daemon-separate', 'raw-separate', 'daemon-shared', 'raw-shared'] as const;
type Variant = (typeof VARIANTS)[number];

const VARIANT_TITLES: Record<Variant, string> = {
  'daemon-separate': 'daemon, SHARED_STORES=false',
  'raw-separate': 'raw git, 5 clones',
  'daemon-shared': 'daemon, SHARED_STORES=true',
  'raw-shared': 'raw git, 1 store + worktrees',
};

interface RunResult {
  variant: Variant;
  round: number;
  /** Position in its round (the order rotates from round to round). */
  slot: number;
  traffic: Traffic;
  diskKb: number;
  files: number;
  /** Start to all five published. */
  publishMs: number;
  /** Start to each branch published (raw git: its command done). */
  perBranchMs: Record<string, number>;
  layout: Layout;
}

interface Measured {
  publishMs: number;
  perBranchMs: Record<string, number>;
}

/** The daemon from dist/, on a listing of all five, from spawn until every path shows its branch's tip. */
async function daemonRun(scope: Scope, dir: string, vol: string, fx: Fixture, sharedStores: boolean): Promise<Measured> {
  const listingPath = join(dir, 'listing.json');
  const listing = fx.branches.map((b) => ({ path: join(vol, b.name), repo: fx.url, branch: b.name }));
  await writeFile(listingPath, `${JSON.stringify(listing, null, 2)}\n`);
  const started = performance.now();
  const daemon = startDaemon(scope, {
    LISTING_PATH: listingPath,
    SCRAPE_INTERVAL: String(SCRAPE_INTERVAL_MS),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    SHARED_STORES: String(sharedStores),
  });
  const perBranchMs: Record<string, number> = {};
  const deadline = started + publishTimeoutMs(fx.files);
  while (Object.keys(perBranchMs).length < fx.branches.length) {
    for (const b of fx.branches) {
      if (b.name in perBranchMs) continue;
      // The link must exist and the tree behind it be the branch's tip: the marker file is there
      // only once the checkout is complete, because the link is swapped in after it.
      let linked = false;
      try {
        readlinkSync(join(vol, b.name));
        linked = true;
      } catch {
        // not published yet
      }
      if (linked && hasMarker(vol, b)) perBranchMs[b.name] = performance.now() - started;
    }
    if (Object.keys(perBranchMs).length === fx.branches.length) break;
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(`the daemon exited (${daemon.child.exitCode ?? daemon.child.signalCode}) before publishing all five; output tail:\n${daemon.output().slice(-3000)}`);
    }
    if (performance.now() > deadline) {
      const missing = fx.branches.filter((b) => !(b.name in perBranchMs)).map((b) => b.name);
      throw new Error(`daemon (SHARED_STORES=${sharedStores}): ${missing.join(', ')} not published within ${publishTimeoutMs(fx.files)} ms; output tail:\n${daemon.output().slice(-3000)}`);
    }
    await delay(LINK_POLL_MS);
  }
  const publishMs = Math.max(...Object.values(perBranchMs));
  // The agent logs "published" once it is done with the sync: stop only then, so the disk figure
  // is the state it settles in, not one caught halfway through its clean-up.
  await daemon.waitForLog(
    () => new Set(daemon.lines.filter((l) => l.message === 'published').map((l) => String(l.repo))).size >= fx.branches.length,
    'a "published" log line from all five agents',
    30_000,
  );
  const code = await daemon.stop();
  if (code !== 0) process.stderr.write(`note: the daemon exited with ${code} on SIGTERM\n`);
  // BENCH_DAEMON_LOG=<file>: keep each daemon run's log lines there, to see where its time went.
  if (process.env.BENCH_DAEMON_LOG) await appendFile(process.env.BENCH_DAEMON_LOG, daemon.output());
  return { publishMs, perBranchMs };
}

/** Five `git clone --depth 1 --single-branch` at once, as the daemon's five agents would run. */
async function rawSeparateRun(vol: string, fx: Fixture): Promise<Measured> {
  const perBranchMs: Record<string, number> = {};
  const started = performance.now();
  await Promise.all(
    fx.branches.map(async (b) => {
      await git(vol, ['clone', '--quiet', '--depth', '1', '--single-branch', '--branch', b.name, '--', fx.url, join(vol, b.name)]);
      perBranchMs[b.name] = performance.now() - started;
    }),
  );
  return { publishMs: performance.now() - started, perBranchMs };
}

/**
 * One bare store, one fetch of all five tips, then a worktree per branch: registered one at a
 * time (concurrent `git worktree add` in one repository races on the admin folders and fails),
 * then filled at once, as the daemon's agents do.
 */
async function rawSharedRun(vol: string, fx: Fixture): Promise<Measured> {
  const store = join(vol, 'store.git');
  const perBranchMs: Record<string, number> = {};
  const started = performance.now();
  await git(vol, ['init', '--quiet', '--bare', '--', store]);
  await git(vol, ['--git-dir', store, 'fetch', '--quiet', '--no-tags', '--depth', '1', fx.url, ...fx.branches.map((b) => `+refs/heads/${b.name}:refs/heads/${b.name}`)]);
  for (const b of fx.branches) await git(vol, ['--git-dir', store, 'worktree', 'add', '--quiet', '--detach', '--no-checkout', join(vol, b.name), b.name]);
  await Promise.all(
    fx.branches.map(async (b) => {
      await git(join(vol, b.name), ['reset', '--hard', '--quiet', b.name]);
      perBranchMs[b.name] = performance.now() - started;
    }),
  );
  return { publishMs: performance.now() - started, perBranchMs };
}

const publishTimeoutMs = (files: number) => Math.max(120_000, files * 60);

async function runVariant(parent: Scope, variant: Variant, fx: Fixture, proxy: CountingProxy, round: number, slot: number): Promise<RunResult> {
  const scope = parent.child();
  try {
    const dir = await makeTempDir(scope, 'gas-shared-store-');
    const vol = join(dir, 'vol');
    await mkdir(vol);
    if (proxy.open() > 0) throw new Error(`${proxy.open()} proxy connections still open before ${variant}: a previous run's client lingers`);
    proxy.take();
    let m: Measured;
    switch (variant) {
      case 'daemon-separate':
        m = await daemonRun(scope, dir, vol, fx, false);
        break;
      case 'daemon-shared':
        m = await daemonRun(scope, dir, vol, fx, true);
        break;
      case 'raw-separate':
        m = await rawSeparateRun(vol, fx);
        break;
      case 'raw-shared':
        m = await rawSharedRun(vol, fx);
        break;
      default: {
        const _never: never = variant;
        throw new Error(`unknown variant ${String(_never)}`);
      }
    }
    // Every client has exited; its connections close a moment later, after the last byte counted.
    const idle = performance.now();
    while (proxy.open() > 0 && performance.now() - idle < 5_000) await delay(10);
    const traffic = proxy.take();
    await verifyPublished(vol, fx.branches);
    return {
      variant,
      round,
      slot,
      traffic,
      diskKb: await diskKb(vol),
      files: await fileCount(vol),
      publishMs: m.publishMs,
      perBranchMs: m.perBranchMs,
      layout: await layoutOf(vol),
    };
  } finally {
    await scope.close();
  }
}

// ---- report -------------------------------------------------------------------------------------

interface Summary {
  median: number;
  min: number;
  max: number;
}

const summarize = (xs: number[]): Summary => ({ median: median(xs), min: min(xs), max: max(xs) });

type Figure = 'bytesFetched' | 'diskKb' | 'files' | 'publishMs';

const FIGURES: Record<Figure, { title: string; of: (r: RunResult) => number; format: (x: number) => string }> = {
  bytesFetched: { title: 'bytes fetched (server -> clients)', of: (r) => r.traffic.toClients, format: (x) => `${(x / 2 ** 20).toFixed(2)} MB` },
  diskKb: { title: 'disk used (du -sk of the volume)', of: (r) => r.diskKb, format: (x) => `${(x / 1024).toFixed(1)} MB` },
  files: { title: 'files on disk', of: (r) => r.files, format: (x) => Math.round(x).toLocaleString('en') },
  publishMs: { title: 'time until all five published', of: (r) => r.publishMs, format: (x) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(0)} ms`) },
};

function summaries(results: readonly RunResult[]): Record<Variant, Record<Figure, Summary>> {
  const out = {} as Record<Variant, Record<Figure, Summary>>;
  for (const v of VARIANTS) {
    const runs = results.filter((r) => r.variant === v);
    out[v] = Object.fromEntries(Object.entries(FIGURES).map(([k, f]) => [k, summarize(runs.map(f.of))])) as Record<Figure, Summary>;
  }
  return out;
}

function cell(s: Summary, format: (x: number) => string, rounds: number): string {
  if (rounds === 1 || format(s.min) === format(s.max)) return format(s.median);
  return `${format(s.median)} [${format(s.min)} - ${format(s.max)}]`;
}

const times = (x: number) => (Number.isNaN(x) ? '-' : `${x.toFixed(2)}x`);

function tableRows(sum: Record<Variant, Record<Figure, Summary>>, rounds: number): string[][] {
  return (Object.keys(FIGURES) as Figure[]).map((k) => {
    const f = FIGURES[k];
    const c = (v: Variant) => cell(sum[v][k], f.format, rounds);
    const m = (v: Variant) => sum[v][k].median;
    return [
      f.title,
      c('daemon-separate'),
      c('raw-separate'),
      times(ratio(m('daemon-separate'), m('raw-separate'))),
      c('daemon-shared'),
      c('raw-shared'),
      times(ratio(m('daemon-shared'), m('raw-shared'))),
    ];
  });
}

function notesFor(sum: Record<Variant, Record<Figure, Summary>>, results: readonly RunResult[], fx: Fixture): string[] {
  const effect = (shared: Variant, separate: Variant) =>
    (['bytesFetched', 'diskKb', 'publishMs'] as const).map((k) => `${FIGURES[k].title.split(' (')[0]} ${times(ratio(sum[shared][k].median, sum[separate][k].median))}`).join(', ');
  const layouts = (v: Variant) =>
    [...new Set(results.filter((r) => r.variant === v).map((r) => `${r.layout.sharedStores} shared store(s), ${r.layout.perEntryRepos} per-entry repo.git`))].join('; ');
  const lines = [
    `repository: ${fx.files.toLocaleString('en')} files (${(fx.bytes / 2 ** 20).toFixed(1)} MB of text) in ${fx.dirs} folders; ${fx.branches.length} branches, each one commit changing ${fx.changedPerBranch} files of its own; served bare repo ${(fx.servedKb / 1024).toFixed(1)} MB on disk`,
    `sharing, shared / separate (medians): daemon ${effect('daemon-shared', 'daemon-separate')}; raw git ${effect('raw-shared', 'raw-separate')}`,
    `on-disk layout the daemon left: SHARED_STORES=false: ${layouts('daemon-separate')}; SHARED_STORES=true: ${layouts('daemon-shared')}`,
    `connections to the server per run (median): ${VARIANTS.map((v) => `${v} ${median(results.filter((r) => r.variant === v).map((r) => r.traffic.connections))}`).join(', ')}`,
    `time is from spawning the daemon (node start-up included) to the last of the five links naming a tree with its branch's tip, polled every ${LINK_POLL_MS} ms; for raw git, wall time of the commands`,
    `load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  ];
  const shared = results.filter((r) => r.variant === 'daemon-shared');
  if (shared.length > 0 && shared.every((r) => r.layout.sharedStores === 0)) {
    lines.push(
      'NOTE: SHARED_STORES=true made no shared store (no .git-autosync-stores folder): both daemon columns measure the same thing',
    );
  }
  return lines;
}

// ---- main ---------------------------------------------------------------------------------------

async function main(scope: Scope, opts: Options): Promise<void> {
  requireBuilt(CLI);
  const startedAt = performance.now();
  const progress = progressPrinter();
  const env = benchEnvironment();
  progress(
    `${env.node}, ${env.git}, ${env.cpus} cpus, TMPDIR ${env.tmpdir} (${env.tmpdirFileSystem}), load ${env.loadAverageAtStart.join(' ')}, ` +
      `source ${env.source.commit.slice(0, 10)} + ${env.source.uncommittedChanges} changes, dist ${env.source.dist}; ` +
      `${opts.files} files, ${opts.rounds} rounds`,
  );

  const root = await makeTempDir(scope, 'gas-shared-store-');
  const serveRoot = join(root, 'remotes');
  await mkdir(serveRoot);
  const server = await startGitDaemon(scope, serveRoot);
  const proxy = await startCountingProxy(scope, server.port);
  progress(`creating a ${opts.files}-file repository and branches ${BRANCHES.join(', ')}`);
  const fx = await createFixture(serveRoot, opts.files, proxy.port);

  // Unrecorded: warms the page cache, git daemon and the daemon's modules for both kinds of client.
  progress('warm-up: one raw run and one daemon run, not recorded');
  await runVariant(scope, 'raw-separate', fx, proxy, 0, 0);
  await runVariant(scope, 'daemon-separate', fx, proxy, 0, 1);

  const results: RunResult[] = [];
  for (let n = 1; n <= opts.rounds; n++) {
    // Rotate the order, so a slow drift (cache, clock, other load) favours no variant.
    const order = VARIANTS.map((_, i) => VARIANTS[(i + n - 1) % VARIANTS.length]!);
    for (const [slot, variant] of order.entries()) {
      const r = await runVariant(scope, variant, fx, proxy, n, slot);
      results.push(r);
      progress(
        `round ${n}/${opts.rounds}, ${variant}: ${FIGURES.bytesFetched.format(r.traffic.toClients)} fetched, ${FIGURES.diskKb.format(r.diskKb)} on disk, ` +
          `${r.files} files, all five in ${FIGURES.publishMs.format(r.publishMs)}`,
      );
    }
  }

  const sum = summaries(results);
  const header = ['figure', VARIANT_TITLES['daemon-separate'], VARIANT_TITLES['raw-separate'], 'ratio', VARIANT_TITLES['daemon-shared'], VARIANT_TITLES['raw-shared'], 'ratio'];
  const rows = tableRows(sum, opts.rounds);
  const table = renderTable(header, rows);
  const notes = notesFor(sum, results, fx);
  // dist/ is shared with whoever else builds in this checkout: a rebuild mid-run mixes two daemons.
  const distAtEnd = distFingerprint();
  if (distAtEnd !== env.source.dist) {
    notes.push(`WARNING: dist/ changed during the run (${env.source.dist} at the start, ${distAtEnd} at the end): daemon runs may have measured different builds`);
  }
  const spread = opts.rounds > 1 ? `median [min - max] of ${opts.rounds} rounds` : '1 round';
  console.log(`\n${fx.branches.length} branches of one ${fx.files.toLocaleString('en')}-file repository, ${spread}; ratio = daemon / raw git\n\n${table}\n\n${notes.join('\n')}\n`);

  const trial = opts.files < DEFAULT_FILES;
  const resultsPath = join(RESULTS_DIR, trial ? 'shared-store-trial.json' : 'shared-store-latest.json');
  const report = {
    generatedAt: new Date().toISOString(),
    durationS: (performance.now() - startedAt) / 1000,
    environment: env,
    settings: {
      ...opts,
      dirs: fx.dirs,
      branches: fx.branches.map(({ name, commit }) => ({ name, commit })),
      changedFilesPerBranch: fx.changedPerBranch,
      repoTextBytes: fx.bytes,
      servedRepoKb: fx.servedKb,
      scrapeIntervalMs: SCRAPE_INTERVAL_MS,
      linkPollMs: LINK_POLL_MS,
      units: { bytesFetched: 'bytes', diskKb: 'KiB (du -sk)', publishMs: 'ms', tableMb: '2^20 bytes' },
    },
    table: { header, rows },
    notes,
    summary: sum,
    runs: results,
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(resultsPath, `${JSON.stringify(roundDeep(report), null, 2)}\n`);
  console.log(`results written to ${resultsPath} (${((performance.now() - startedAt) / 1000).toFixed(0)} s)`);
}

const opts = parseOptions(process.argv.slice(2));
const watchdogMs = 5 * 60_000 + (opts.rounds * 4 + 2) * (publishTimeoutMs(opts.files) + 30_000);
const scope = new Scope();
runToCompletion(scope, 'bench', watchdogMs, () => main(scope, opts));
