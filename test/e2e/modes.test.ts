import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from '../support/agent.js';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { getJson } from '../support/http-client.js';
import { isAlive, processesIn, stallingGit } from '../support/fault-git.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { serveTwoRepos } from '../support/served-repos.js';
import { scaled, waitFor } from '../support/tmp.js';

const setup = serveTwoRepos;

const published = (name: string, commit?: string) => (l: LogLine) => l.message === 'published' && l.repo === name && (commit === undefined || l.commit === commit);

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}


test('one-time mode syncs every entry once, prints a line each, and exits 0 only if all succeeded', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([
    { path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' },
    { path: join(s.data, 'two'), repo: s.git.url('two'), branch: 'main' },
  ]));
  const ok = await run(['--one-time'], { LISTING_PATH: s.listing });
  assert.equal(ok.code, 0, ok.out);
  assert.equal(ok.out.split('\n').filter((l) => l.includes('"one-time sync"')).length, 2);
  assert.equal(publishedCommit(join(s.data, 'one')), s.oneHead);
  assert.equal(publishedCommit(join(s.data, 'two')), s.twoHead);

  await writeFile(s.listing, JSON.stringify([
    { path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' },
    { path: join(s.data, 'three'), repo: s.git.url('missing'), branch: 'main' },
  ]));
  const failed = await run([], { LISTING_PATH: s.listing, ONE_TIME: 'true' });
  assert.equal(failed.code, 1, failed.out);
  assert.match(failed.out, /"one-time sync failed".*"repo":"three"|"repo":"three".*"one-time sync failed"/);
  // One-time mode never retries: no line may promise a retry.
  assert.match(failed.out, /"sync failed"/);
  assert.doesNotMatch(failed.out, /retryInMs|nextRetryAt/);

  // Nor when the entry cannot even be set up (its folder's parent is a file): the start-up failure's line.
  await writeFile(join(s.data, 'a-file'), 'not a folder\n');
  await writeFile(s.listing, JSON.stringify([{ path: join(s.data, 'a-file', 'four'), repo: s.git.url('one'), branch: 'main' }]));
  const unprepared = await run([], { LISTING_PATH: s.listing, ONE_TIME: 'true' });
  assert.equal(unprepared.code, 1, unprepared.out);
  assert.match(unprepared.out, /"sync failed".*"step":"start-up"|"step":"start-up".*"sync failed"/);
  assert.doesNotMatch(unprepared.out, /retryInMs|nextRetryAt/);
});

test('invalid settings fail at start with a clear message and exit code 2', async () => {
  const bad = await run([], { LISTING_PATH: '/x.json', SCRAPE_INTERVAL: 'soon' });
  assert.equal(bad.code, 2);
  assert.match(bad.out, /SCRAPE_INTERVAL="soon": must be a whole number of milliseconds/);
  const missing = await run([], { LISTING_PATH: '' });
  assert.equal(missing.code, 2);
  assert.match(missing.out, /LISTING_PATH is not set/);
  const flag = await run(['--http-bind', 'nonsense'], { LISTING_PATH: '/x.json' });
  assert.equal(flag.code, 2);
  assert.match(flag.out, /HTTP_BIND="nonsense": must be host:port/);
});

test('a listing replaced by write-and-rename is applied, and a changed repo URL publishes the new repo', async (t) => {
  const s = await setup(t);
  const path = join(s.data, 'site');
  await writeFile(s.listing, JSON.stringify([{ path, repo: s.git.url('one'), branch: 'main' }]));
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200' });
  await daemon.waitForLog(published('site', s.oneHead), 'site published from one');
  // What editors and config tools do: write a temp file, rename it over the listing.
  const tmp = `${s.listing}.tmp`;
  await writeFile(tmp, JSON.stringify([{ path, repo: s.git.url('two'), branch: 'main' }]));
  await rename(tmp, s.listing);
  await daemon.waitForLog(published('site', s.twoHead), 'site published from two');
  assert.equal(readPublishedFile(path, 'name.txt'), 'two\n');
});

test('kill -9 of the supervisor leaves no agent running within 5 s', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([
    { path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' },
    { path: join(s.data, 'two'), repo: s.git.url('two'), branch: 'main' },
  ]));
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200' });
  await daemon.waitForLog(published('one'), 'one published');
  await daemon.waitForLog(published('two'), 'two published');
  const agents = childrenOf(daemon.pid);
  assert.equal(agents.length, 2);
  await daemon.stop('SIGKILL');
  await waitFor(() => agents.every((p) => !isAlive(p)), { message: 'agents gone after the supervisor died', timeoutMs: 5000 });
});

test('a crash-looping agent is restarted with growing backoff while the other repo carries on', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([
    { path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' },
    { path: join(s.data, 'two'), repo: s.git.url('two'), branch: 'main' },
  ]));
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200' });
  await daemon.waitForLog(published('one'), 'one published');
  const waits: number[] = [];
  for (let restarts = 0; restarts < 3; restarts++) {
    const started = await daemon.waitForLog((l) => l.message === 'agent process started' && l.repo === 'one' && l.restarts === restarts, `agent one run ${restarts}`);
    const pid = started.pid as number;
    process.kill(pid, 'SIGKILL');
    const exit = await daemon.waitForLog((l) => l.message === 'agent exited; restarting it' && l.pid === pid, `restart ${restarts + 1} scheduled`);
    waits.push(exit.restartInMs as number);
  }
  assert.ok(waits[1]! > waits[0]! && waits[2]! > waits[1]!, `backoff grows: ${waits.join(', ')}`);
  const pushed = await s.two.commit({ 'name.txt': 'two meanwhile\n' });
  await daemon.waitForLog(published('two', pushed), 'two carries on');
});

test('an agent that stops sending heartbeats (SIGSTOP) is killed and restarted', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([{ path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' }]));
  // Scaled: on a loaded machine a 1.5 s watchdog kills the agent for silence before it is stopped.
  const heartbeatMs = scaled(1500);
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', HEARTBEAT_TIMEOUT: String(heartbeatMs) });
  const started = await daemon.waitForLog((l) => l.message === 'agent process started' && l.restarts === 0, 'agent started');
  await daemon.waitForLog(published('one', s.oneHead), 'one published');
  const pid = started.pid as number;
  process.kill(pid, 'SIGSTOP');
  t.after(() => {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  const killed = await daemon.waitForLog((l) => l.message === 'agent stopped sending heartbeats; killing it' && l.pid === pid, 'watchdog fired');
  assert.ok((killed.silentMs as number) >= heartbeatMs);
  await daemon.waitForLog((l) => l.message === 'agent process started' && l.restarts === 1, 'agent restarted');
  const pushed = await s.one.commit({ 'name.txt': 'after stop\n' });
  await daemon.waitForLog(published('one', pushed), 'publishing again');
  await waitFor(() => !isAlive(pid), { message: 'stopped agent gone' });
});

test('SIGHUP makes every agent sync now, long before its interval', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([{ path: join(s.data, 'one'), repo: s.git.url('one'), branch: 'main' }]));
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '600000' });
  await daemon.waitForLog(published('one', s.oneHead), 'one published');
  await daemon.waitForLog((l) => l.message === 'agent ready', 'agent ready');
  const pushed = await s.one.commit({ 'name.txt': 'now\n' });
  process.kill(daemon.pid, 'SIGHUP');
  await daemon.waitForLog(published('one', pushed), 'published after SIGHUP', 10_000);
});

test('SIGTERM during a hung fetch: the daemon exits 0 within its deadline, leaving no git behind and the old tree published', async (t) => {
  const s = await setup(t);
  const stall = join(s.root, 'stall');
  const stalled = join(s.root, 'stalled-pid');
  const bin = await stallingGit(s.root, stall, stalled);
  const path = join(s.data, 'one');
  await writeFile(s.listing, JSON.stringify([{ path, repo: s.git.url('one'), branch: 'main', timeout: 120_000 }]));
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', PATH: `${bin}:${process.env.PATH}` });
  await daemon.waitForLog(published('one', s.oneHead), 'one published');
  await writeFile(stall, '');
  await s.one.commit({ 'name.txt': 'never arrives\n' });
  await waitFor(() => existsSync(stalled), { message: 'fetch stalled' });
  const started = Date.now();
  assert.equal(await daemon.stop('SIGTERM'), 0);
  assert.ok(Date.now() - started < 15_000, `stopped in ${Date.now() - started} ms`);
  await waitFor(() => processesIn(stateDirOf(path)).length === 0, { message: 'no git left in the state folder', timeoutMs: 5000 });
  assert.equal(publishedCommit(path), s.oneHead);
});

test('an exchange entry under the daemon: path is a directory without .git, and /status names the commit readers see there', async (t) => {
  const s = await setup(t);
  const path = join(s.data, 'one');
  await writeFile(s.listing, JSON.stringify([{ path, repo: s.git.url('one'), branch: 'main', publish: 'exchange' }]));
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200' });
  await daemon.waitForLog(published('one', s.oneHead), 'one published', 60_000);
  assert.ok(lstatSync(path).isDirectory(), 'a real directory, not a symlink');
  assert.ok(!existsSync(join(path, '.git')));
  const next = await s.one.commit({ 'name.txt': 'one, again\n' });
  await daemon.waitForLog(published('one', next), 'one follows a push', 60_000);
  assert.equal(readFileSync(join(path, 'name.txt'), 'utf8'), 'one, again\n');
  const base = await daemon.httpUrl();
  const status = await waitFor(async () => {
    const r = await getJson(`${base}/status/one`);
    return r.status === 200 && r.body.publishedCommit === next && r.body;
  }, { message: '/status/one names the pushed commit', timeoutMs: 30_000 });
  assert.equal(status.lastError, null, JSON.stringify(status));
});
