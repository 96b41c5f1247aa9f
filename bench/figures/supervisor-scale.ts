// The supervisor at scale (#20), each figure beside a baseline measured in the same run:
// validating a 5,000-entry listing (and re-reading it with one entry edited) against JSON.parse of
// the same text; /healthz latency while N idle agents start and while one entry of N is edited,
// against a bare node HTTP server probed the same way at the same time; the supervisor's private memory per entry.
// Run: `npm run build && npx tsx bench/scale.ts --part supervisor [--entries N] [--listing-entries M]`.

import { spawn } from 'node:child_process';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULTS } from '../../src/shared/listing-schema.js';
import { parseListing } from '../../src/supervisor/listing.js';
import { startDaemon, type RunningDaemon } from '../../test/support/daemon.js';
import { rawRequest } from '../../test/support/http-client.js';
import { stopper } from '../../test/support/process.js';
import { waitFor } from '../../test/support/tmp.js';
import type { GitServer } from '../../test/support/git-daemon.js';
import { readMemory } from '../support/proc.js';
import type { Scope } from '../support/scope.js';
import { median, percentile } from '../support/stats.js';

const PROBE_EVERY_MS = 50;
const PROBE_DEADLINE_MS = 5_000;
const RUNS = 3;

export interface ValidationFigures {
  entries: number;
  jsonParseMs: number;
  firstValidationMs: number;
  validationMs: number;
  /** One entry edited, the previous listing's entries known. */
  reloadOneMs: number;
}

/** Validation of a generated listing, in this process: JSON.parse is the floor any reader pays. */
export function validationFigures(entries: number): ValidationFigures {
  const raw = Array.from({ length: entries }, (_, i) => ({ path: `/srv/sync/e${i}/site`, name: `e${i}`, repo: `git://127.0.0.1/repo-${i}`, branch: 'main' }));
  const text = JSON.stringify(raw, null, 2);
  const edited = JSON.stringify(raw.map((e, i) => (i === Math.floor(entries / 2) ? { ...e, branch: 'dev' } : e)), null, 2);
  const time = (fn: () => unknown) => {
    const t = performance.now();
    fn();
    return performance.now() - t;
  };
  const firstValidationMs = time(() => parseListing(text, DEFAULTS, 'bench'));
  const jsonParse: number[] = [];
  const validation: number[] = [];
  const reloadOne: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    jsonParse.push(time(() => JSON.parse(text)));
    let previous = parseListing(text, DEFAULTS, 'bench');
    validation.push(time(() => (previous = parseListing(text, DEFAULTS, 'bench'))));
    reloadOne.push(time(() => parseListing(edited, DEFAULTS, 'bench', { known: previous.known })));
  }
  return { entries, jsonParseMs: median(jsonParse), firstValidationMs, validationMs: median(validation), reloadOneMs: median(reloadOne) };
}

export interface Latency {
  probes: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** GET /healthz every PROBE_EVERY_MS while `more()`; a failure counts as the deadline. */
async function probe(base: string, more: (probes: number) => boolean): Promise<Latency> {
  const ms: number[] = [];
  let failed = 0;
  while (more(ms.length)) {
    const t = performance.now();
    try {
      const res = await rawRequest(base, { path: '/healthz', timeoutMs: PROBE_DEADLINE_MS });
      if (res.status !== 200) failed++;
      ms.push(performance.now() - t);
    } catch {
      failed++;
      ms.push(PROBE_DEADLINE_MS);
    }
    await delay(PROBE_EVERY_MS);
  }
  return { probes: ms.length, failed, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: Math.max(...ms) };
}

/** Probes until `until` settles. */
export function probeUntil(base: string, until: Promise<unknown>): Promise<Latency> {
  let done = false;
  void until.then(
    () => (done = true),
    () => (done = true),
  );
  return probe(base, () => !done);
}

/**
 * The floor: a node process that only answers /healthz. It is probed at the same time as the
 * daemon, so it shares the machine's load with it (the agents starting included): what any node
 * process would answer in those moments.
 */
export async function startBareNode(scope: Scope): Promise<string> {
  const code = `require('http').createServer((q, s) => { s.writeHead(200, {'Content-Type': 'application/json'}); s.end('{"status":"ok"}\\n'); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  scope.after(stopper(child));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('exit', () => reject(new Error('the bare node server exited')));
  });
  return `http://127.0.0.1:${port}`;
}

export interface StartupFigures {
  entries: number;
  startupS: number;
  startup: Latency;
  /** The bare node server, probed during the start-up. */
  startupBaseline: Latency;
  reload: Latency;
  reloadBaseline: Latency;
  /** 'agent process started' lines caused by editing one entry (1 expected). */
  reloadStarts: number;
  supervisorPrivateKb: number;
  supervisorPrivateOneEntryKb: number;
  privateKbPerEntry: number;
}

async function writeListing(file: string, entries: unknown[]): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(entries, null, 2));
  await rename(`${file}.tmp`, file);
}

const publishedCount = (d: RunningDaemon) => new Set(d.lines.filter((l) => l.message === 'published').map((l) => l.repo)).size;
const privateKb = (pid: number) => {
  const m = readMemory(pid);
  return m.privateCleanKb + m.privateDirtyKb;
};

async function runDaemon(scope: Scope, root: string, server: GitServer, repo: string, entries: number, tag: string) {
  const listing = join(root, `listing-${tag}.json`);
  // One folder per entry: no shared stores, each agent its own clone (idle: an hour's interval).
  const raw = Array.from({ length: entries }, (_, i) => ({ path: join(root, `data-${tag}`, `e${i}`, 'site'), name: `e${i}`, repo: server.url(repo), branch: 'main', interval: 3_600_000 }));
  await writeListing(listing, raw);
  const started = performance.now();
  const daemon = startDaemon(scope, { LISTING_PATH: listing, LOG_LEVEL: 'info' });
  const base = await daemon.httpUrl();
  return { daemon, base, listing, raw, started };
}

export async function startupFigures(scope: Scope, root: string, server: GitServer, repo: string, entries: number, progress: (s: string) => void): Promise<StartupFigures> {
  const timeoutMs = Math.max(180_000, entries * 3_000);
  const bare = await startBareNode(scope);
  const run = await runDaemon(scope, root, server, repo, entries, 'n');
  const allPublished = waitFor(() => publishedCount(run.daemon) >= entries, { timeoutMs, intervalMs: 250, message: `all ${entries} published` });
  progress(`supervisor: probing /healthz while ${entries} agents start`);
  const [startup, startupBaseline] = await Promise.all([probeUntil(run.base, allPublished), probeUntil(bare, allPublished)]);
  await allPublished;
  const startupS = (performance.now() - run.started) / 1000;
  await delay(2_000);
  const supervisorPrivateKb = privateKb(run.daemon.pid);

  progress('supervisor: probing /healthz while one entry is edited');
  const startsBefore = run.daemon.lines.filter((l) => l.message === 'agent process started').length;
  const target = `e${Math.floor(entries / 2)}`;
  const readyLines = () => run.daemon.lines.filter((l) => l.message === 'agent ready' && l.repo === target).length;
  const readyBefore = readyLines();
  const restarted = (async () => {
    await writeListing(run.listing, run.raw.map((e) => (e.name === target ? { ...e, interval: 1_800_000 } : e)));
    // The restarted agent finds its tree published already: it says "agent ready", then polls.
    await waitFor(() => readyLines() > readyBefore, { timeoutMs: 120_000, message: `${target} restarted` }).catch(() => undefined);
    // Long enough for any other restart the edit might (wrongly) have caused to show.
    await delay(3_000);
  })();
  const [reload, reloadBaseline] = await Promise.all([probeUntil(run.base, restarted), probeUntil(bare, restarted)]);
  const reloadStarts = run.daemon.lines.filter((l) => l.message === 'agent process started').length - startsBefore;
  await run.daemon.stop();

  progress('supervisor: one entry, for the memory baseline');
  const one = await runDaemon(scope, root, server, repo, 1, 'one');
  await waitFor(() => publishedCount(one.daemon) >= 1, { timeoutMs: 120_000, message: 'one entry published' });
  await delay(2_000);
  const supervisorPrivateOneEntryKb = privateKb(one.daemon.pid);
  await one.daemon.stop();

  return {
    entries,
    startupS,
    startup,
    startupBaseline,
    reload,
    reloadBaseline,
    reloadStarts,
    supervisorPrivateKb,
    supervisorPrivateOneEntryKb,
    privateKbPerEntry: (supervisorPrivateKb - supervisorPrivateOneEntryKb) / Math.max(1, entries - 1),
  };
}
