// Push-to-published latency with a push webhook, next to polling at a 10 s interval, in one run.
// Run: npm run build && npx tsx bench/webhook-latency.ts [--pushes 50] [--poll-pushes 10]
// Everything on 127.0.0.1; every loop bounded; all processes stopped and temp dirs removed.

import { createHmac } from 'node:crypto';
import { mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDaemon } from '../test/support/daemon.js';
import { startGitDaemon } from '../test/support/git-daemon.js';
import { RemoteRepo } from '../test/support/git-repo.js';

const { values } = parseArgs({ options: { pushes: { type: 'string', default: '50' }, 'poll-pushes': { type: 'string', default: '10' } } });
const PUSHES = Number(values.pushes);
const POLL_PUSHES = Number(values['poll-pushes']);
const SECRET = 'bench-secret';

const cleanups: Array<() => unknown> = [];
const t = { after: (fn: () => unknown) => cleanups.push(fn) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function published(path: string): string | null {
  try {
    return basename(readlinkSync(path));
  } catch {
    return null;
  }
}

/** Time from `start` until `path` names `commit`, polling every 2 ms, at most `limitMs`. */
async function until(path: string, commit: string, start: number, limitMs: number): Promise<number> {
  while (performance.now() - start < limitMs) {
    if (published(path) === commit) return performance.now() - start;
    await sleep(2);
  }
  throw new Error(`${commit} not published within ${limitMs} ms`);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'gas-bench-webhook-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const serveRoot = join(root, 'remotes');
  const hooked = await RemoteRepo.create(serveRoot, 'hooked');
  const polled = await RemoteRepo.create(serveRoot, 'polled');
  const h0 = await hooked.commit({ 'v.txt': '0\n' });
  const p0 = await polled.commit({ 'v.txt': '0\n' });
  const git = await startGitDaemon(t, serveRoot);
  mkdirSync(join(root, 'data'));
  writeFileSync(join(root, 'secret'), SECRET);
  const listing = join(root, 'listing.json');
  const hookedPath = join(root, 'data', 'hooked');
  const polledPath = join(root, 'data', 'polled');
  writeFileSync(
    listing,
    JSON.stringify([
      // Ten minutes: anything fast was the webhook, not a poll.
      { path: hookedPath, repo: git.url('hooked'), branch: 'main', interval: 600_000 },
      { path: polledPath, repo: git.url('polled'), branch: 'main', interval: 10_000 },
    ]),
  );
  const daemon = startDaemon(t, { LISTING_PATH: listing, WEBHOOK_SECRET_FILE: join(root, 'secret'), LOG_LEVEL: 'info' });
  const base = await daemon.httpUrl();
  await until(hookedPath, h0, performance.now(), 60_000);
  await until(polledPath, p0, performance.now(), 60_000);

  const webhook: number[] = [];
  for (let i = 1; i <= PUSHES; i++) {
    const sha = await hooked.commit({ 'v.txt': `${i}\n` });
    const body = JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: git.url('hooked') } });
    const sig = createHmac('sha256', SECRET).update(body).digest('hex');
    // The clock starts when the push has landed, as a git host would then call us.
    const start = performance.now();
    const res = await fetch(`${base}/webhook/github`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sig}` },
    });
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
    webhook.push(await until(hookedPath, sha, start, 30_000));
  }

  const polling: number[] = [];
  for (let i = 1; i <= POLL_PUSHES; i++) {
    await sleep(Math.random() * 10_000); // pushes land at random moments of the interval
    const sha = await polled.commit({ 'v.txt': `${i}\n` });
    polling.push(await until(polledPath, sha, performance.now(), 30_000));
  }

  const row = (name: string, xs: number[]) =>
    `${name.padEnd(34)} ${String(xs.length).padStart(4)}  p50 ${pct(xs, 50).toFixed(0).padStart(6)} ms  p95 ${pct(xs, 95).toFixed(0).padStart(6)} ms  max ${Math.max(...xs).toFixed(0).padStart(6)} ms`;
  console.log('\npush -> published, loopback, small change');
  console.log(row('webhook (github format)', webhook));
  console.log(row('polling @ 10 s (same run)', polling));
  console.log(`target: webhook p95 <= 300 ms -> ${pct(webhook, 95) <= 300 ? 'pass' : 'FAIL'}`);
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(
    join(import.meta.dirname, 'results', 'webhook-latency-latest.json'),
    `${JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        webhook: { pushes: webhook.length, p50Ms: pct(webhook, 50), p95Ms: pct(webhook, 95), maxMs: Math.max(...webhook) },
        polling10s: { pushes: polling.length, p50Ms: pct(polling, 50), p95Ms: pct(polling, 95), maxMs: Math.max(...polling) },
        targetP95Ms: 300,
      },
      null,
      2,
    )}\n`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  });
