// Hostile listing files against the real daemon: too big, too deep, duplicate keys, thousands of
// bad entries, paths that escape SYNC_ROOT, credentials files that are not files. Each is refused
// with a clear line, and whatever was good keeps running.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine, type RunningDaemon } from '../support/daemon.js';
import { startGitDaemon, type GitServer } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { probeHealthz, rawRequest } from '../support/http-client.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { publishedCommit } from '../support/published.js';
import { makeTempDir, waitFor, type Cleanup } from '../support/tmp.js';

const MAX_LISTING_BYTES = 1024 * 1024;

interface Fixture {
  root: string;
  data: string;
  listing: string;
  git: GitServer;
  site: RemoteRepo;
  first: string;
}

async function fixture(t: Cleanup): Promise<Fixture> {
  const root = await makeTempDir(t, 'gas-hostile-');
  const serveRoot = join(root, 'remotes');
  const site = await RemoteRepo.create(serveRoot, 'site');
  const first = await site.commit({ 'v.txt': '1' });
  const git = await startGitDaemon(t, serveRoot);
  const data = join(root, 'data');
  await mkdir(data, { recursive: true });
  return { root, data, listing: join(root, 'listing.json'), git, site, first };
}

/** A daemon on a listing of the fixture's one repo, once that repo is published. */
async function syncingSite(t: Cleanup, f: Fixture) {
  const site = { path: join(f.data, 'site'), repo: f.git.url('site'), branch: 'main' };
  await writeListing(f.listing, JSON.stringify([site]));
  const d = startDaemon(t, { LISTING_PATH: f.listing, SCRAPE_INTERVAL: '300' });
  const base = await d.httpUrl();
  await d.waitForLog(publishedLine('site', f.first), 'first publish');
  return { site, d, base };
}

/** Replace the listing in one rename, as an editor or a ConfigMap swap would. */
async function writeListing(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** The first line logged from now on that satisfies `pred`. */
function nextLog(d: RunningDaemon, pred: (l: LogLine) => boolean, message: string, timeoutMs = 30_000): Promise<LogLine> {
  const from = d.lines.length;
  return waitFor(() => d.lines.slice(from).find(pred), { timeoutMs, message: `${message}; output tail:\n${d.output().slice(-3000)}` });
}

const publishedLine = (repo: string, commit?: string) => (l: LogLine) => l.message === 'published' && l.repo === repo && (commit === undefined || l.commit === commit);

async function healthy(base: string): Promise<void> {
  const res = await rawRequest(base, { path: '/healthz', timeoutMs: 2_000 });
  assert.equal(res.status, 200, res.body);
}

test('a listing over 1 MiB is refused with a clear line, and the last good listing keeps syncing', async (t) => {
  const f = await fixture(t);
  const { site, d, base } = await syncingSite(t, f);

  // Valid JSON that would stop every agent if it were read: the size cap alone must refuse it.
  const rejected = nextLog(d, (l) => l.message === 'listing rejected; keeping the last good one running', 'huge listing rejected');
  await writeListing(f.listing, `[]${' '.repeat(MAX_LISTING_BYTES + 1024)}`);
  const line = await rejected;
  assert.equal(line.level, 'error');
  assert.match(String(line.error), new RegExp(`listing ${f.listing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: larger than ${MAX_LISTING_BYTES} bytes`));

  const second = await f.site.commit({ 'v.txt': '2' });
  await d.waitForLog(publishedLine('site', second), 'a push after the rejection is still published');
  assert.equal(publishedCommit(site.path), second);
  await healthy(base);
  const metrics = parseMetrics((await rawRequest(base, { path: '/metrics' })).body);
  assert.ok((sampleValue(metrics, 'git_autosync_listing_reloads_total', { result: 'error' }) ?? 0) >= 1);
});

test('deeply nested JSON (100,000 levels) does not crash the daemon', async (t) => {
  const f = await fixture(t);
  const { site, d, base } = await syncingSite(t, f);
  const depth = 100_000;
  const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;

  // 1. A nested entry beside a good one: the good one runs on, the nested one is one error line.
  let loaded = nextLog(d, (l) => l.message === 'listing loaded', 'listing with a nested entry loaded');
  await writeListing(f.listing, `[${JSON.stringify(site)},${arrays}]`);
  assert.deepEqual([(await loaded).valid, (await loaded).invalid], [1, 1]);
  const bad = d.lines.filter((l) => l.message === 'invalid listing entry; skipped, the others carry on' && l.entry === 2);
  assert.equal(bad.length, 1);
  assert.match(String(bad[0]!.error), /^listing entry #2: must be an object/);

  // 2. 100,000 nested objects: not an array, so the whole listing is refused.
  const rejected = nextLog(d, (l) => l.message === 'listing rejected; keeping the last good one running', 'nested objects rejected');
  await writeListing(f.listing, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
  assert.match(String((await rejected).error), /must be a JSON array|not valid JSON/);

  const second = await f.site.commit({ 'v.txt': '2' });
  await d.waitForLog(publishedLine('site', second), 'still syncing after nested listings');
  await healthy(base);

  // 3. Nothing but nested arrays: a valid array whose one entry is refused. The daemon lives on.
  loaded = nextLog(d, (l) => l.message === 'listing loaded', 'nested arrays loaded');
  await writeListing(f.listing, arrays);
  assert.deepEqual([(await loaded).valid, (await loaded).invalid], [0, 1]);
  await healthy(base);
  assert.equal(d.child.exitCode, null, 'the daemon is still running');
  assert.equal(d.child.signalCode, null);
});

test('duplicate JSON keys: the later value wins (JSON.parse), for better and for worse', async (t) => {
  const f = await fixture(t);
  await f.site.switchBranch('other', { create: true });
  const other = await f.site.commit({ 'v.txt': 'other' });
  await f.site.switchBranch('main');
  const url = JSON.stringify(f.git.url('site'));
  const p = (name: string) => JSON.stringify(join(f.data, name));
  // Written by hand: JSON.stringify cannot produce duplicate keys.
  const text = `[
    {"path": ${p('a')}, "repo": ${url}, "branch": "main", "branch": "other"},
    {"path": ${p('b')}, "repo": "--upload-pack=touch /tmp/pwned", "repo": ${url}, "branch": "main"},
    {"path": ${p('c')}, "repo": ${url}, "repo": "ext::sh -c touch% /tmp/pwned", "branch": "main"}
  ]`;
  await writeListing(f.listing, text);
  const d = startDaemon(t, { LISTING_PATH: f.listing, SCRAPE_INTERVAL: '60000' });
  const base = await d.httpUrl();
  await d.waitForLog(publishedLine('a', other), '"a" follows the later "branch" (other)');
  await d.waitForLog(publishedLine('b', f.first), '"b" uses the later, good "repo"');
  const refused = await d.waitForLog((l) => l.message === 'invalid listing entry; skipped, the others carry on' && l.entry === 3, 'entry #3 refused');
  assert.match(String(refused.error), /^listing entry #3 \("c"\): "repo" /);
  const status = JSON.parse((await rawRequest(base, { path: '/status/a' })).body) as { ref: string };
  assert.equal(status.ref, 'other');
  const c = await rawRequest(base, { path: '/status/c' });
  assert.equal(c.status, 200);
  assert.equal((JSON.parse(c.body) as { state: string }).state, 'invalid', 'the refused entry is listed as invalid, and runs nothing');
  assert.equal(existsSync('/tmp/pwned'), false);
});

test('2,000 entries, all but 2 invalid: one line per bad entry, the daemon answers throughout, the 2 publish', async (t) => {
  const f = await fixture(t);
  const second = await RemoteRepo.create(join(f.root, 'remotes'), 'second');
  const secondHead = await second.commit({ 'w.txt': '1' });
  const url = f.git.url('site');
  const total = 2000;
  const goodAt = new Map([[777, 'good-a'], [1500, 'good-b']]);
  // Each bad entry has exactly one fault, of many kinds, and its own name and path.
  const faults: Array<(i: number) => unknown> = [
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: '--upload-pack=touch /tmp/pwned' }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: url, branch: '-c core.sshCommand=touch /tmp/pwned' }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: 'ext::sh -c touch% /tmp/pwned' }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: url, brnach: 'main' }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: url, interval: 'fast' }),
    (i) => ({ name: `bad-${i}`, path: `relative/bad-${i}`, repo: url }),
    () => 42,
    (i) => ({ name: `bad-${i}`, path: `${f.data}/../bad-${i}`, repo: url }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: url, gitConfig: ['core.sshCommand=touch /tmp/pwned'] }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: 'fd::3' }),
    (i) => ({ name: `-bad-${i}`, path: join(f.data, `bad-${i}`), repo: url }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: url, branch: 'a..b' }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad\n-${i}`), repo: url }),
    (i) => ({ name: `bad-${i}`, path: join(f.data, `bad-${i}`), repo: `${url}\u0000` }),
  ];
  const entries = Array.from({ length: total }, (_, i) => {
    const good = goodAt.get(i);
    if (good !== undefined) return { name: good, path: join(f.data, good), repo: f.git.url(good === 'good-a' ? 'site' : 'second'), branch: 'main' };
    return faults[i % faults.length]!(i);
  });
  const text = JSON.stringify(entries);
  assert.ok(text.length < MAX_LISTING_BYTES);
  await writeListing(f.listing, text);

  const d = startDaemon(t, { LISTING_PATH: f.listing, SCRAPE_INTERVAL: '60000' });
  const base = await d.httpUrl();
  const probe = probeHealthz(base, { everyMs: 50, deadlineMs: 2_000, maxDurationMs: 60_000 });
  const loaded = await d.waitForLog((l) => l.message === 'listing loaded', 'listing loaded');
  await d.waitForLog(publishedLine('good-a', f.first), 'good-a published');
  await d.waitForLog(publishedLine('good-b', secondHead), 'good-b published');
  const report = await probe.stop();
  t.diagnostic(`/healthz during the load: ${report.answered} answers, slowest ${report.maxLatencyMs} ms`);
  assert.deepEqual(report.failures, []);
  assert.ok(report.answered >= 5, `too few /healthz answers: ${report.answered}`);
  assert.deepEqual([loaded.valid, loaded.invalid], [2, total - 2]);

  const lines = d.lines.filter((l) => l.message === 'invalid listing entry; skipped, the others carry on');
  const perIndex = new Map<number, number>();
  for (const l of lines) perIndex.set(Number(l.entry) - 1, (perIndex.get(Number(l.entry) - 1) ?? 0) + 1);
  assert.equal(lines.length, total - 2, 'one line per bad entry');
  for (let i = 0; i < total; i++) assert.equal(perIndex.get(i) ?? 0, goodAt.has(i) ? 0 : 1, `lines for entry ${i}`);
  for (const l of lines) {
    assert.match(String(l.error), new RegExp(`^listing entry #${String(l.entry)}(?: \\("[^"]+"\\))?: (?:"[^"]+" |unknown field|must be an object)`));
  }
  const metrics = parseMetrics((await rawRequest(base, { path: '/metrics' })).body);
  assert.equal(sampleValue(metrics, 'git_autosync_listing_entries', { state: 'invalid' }), total - 2);
  assert.equal(sampleValue(metrics, 'git_autosync_listing_entries', { state: 'valid' }), 2);
  const statuses = JSON.parse((await rawRequest(base, { path: '/status' })).body) as Array<{ name: string; state: string }>;
  // The refused entries are listed too, as invalid (#12): only the two good ones run.
  assert.deepEqual(statuses.filter((s) => s.state !== 'invalid').map((s) => s.name).sort(), ['good-a', 'good-b']);
  assert.equal(statuses.filter((s) => s.state === 'invalid').length, total - 2);
  assert.equal(existsSync('/tmp/pwned'), false);
});

test('paths that leave SYNC_ROOT, lexically or through a symlink, are refused naming the field; nothing is written outside', async (t) => {
  const f = await fixture(t);
  const outside = join(f.root, 'outside');
  await mkdir(join(outside, 'inplace-target'), { recursive: true });
  await symlink(outside, join(f.data, 'escape'));
  await symlink(join(outside, 'inplace-target'), join(f.data, 'inplace-link'));
  const url = f.git.url('site');
  const entries = [
    { name: 'dotdot', path: `${f.data}/../outside/dotdot`, repo: url },
    { name: 'elsewhere', path: join(outside, 'elsewhere'), repo: url },
    { name: 'touch-out', path: join(f.data, 'touch-out'), repo: url, touchFile: join(outside, 'touched') },
    { name: 'via-link', path: join(f.data, 'escape', 'via-link'), repo: url },
    { name: 'inplace', path: join(f.data, 'inplace-link'), repo: url, publish: 'in-place' },
    { name: 'site', path: join(f.data, 'site'), repo: url },
  ];
  await writeListing(f.listing, JSON.stringify(entries));
  const d = startDaemon(t, { LISTING_PATH: f.listing, SCRAPE_INTERVAL: '60000', SYNC_ROOT: f.data });
  await d.waitForLog(publishedLine('site', f.first), 'the good entry publishes');
  const invalid = (index: number) => d.waitForLog((l) => l.message === 'invalid listing entry; skipped, the others carry on' && l.entry === index + 1, `entry #${index + 1} refused`);
  assert.match(String((await invalid(0)).error), /^listing entry #1 \("dotdot"\): "path" must be normalised/);
  assert.match(String((await invalid(1)).error), /^listing entry #2 \("elsewhere"\): "path" must be inside SYNC_ROOT/);
  assert.match(String((await invalid(2)).error), /^listing entry #3 \("touch-out"\): "touchFile" must be inside SYNC_ROOT/);
  // Lexically inside, really outside: the agent resolves symlinks before it writes anything.
  for (const repo of ['via-link', 'inplace']) {
    const failed = await d.waitForLog((l) => l.message === 'sync failed' && l.repo === repo, `${repo} refused by its agent`);
    assert.equal(failed.kind, 'config');
    assert.match(String(failed.error), /^"path" .* outside SYNC_ROOT/);
  }
  assert.deepEqual(await readdir(outside), ['inplace-target'], 'nothing was created outside SYNC_ROOT');
  assert.deepEqual(await readdir(join(outside, 'inplace-target')), []);
});

test(
  'a touchFile that reaches out of SYNC_ROOT through a symlink is refused',
  async (t) => {
    const f = await fixture(t);
    const outside = join(f.root, 'outside');
    await mkdir(outside);
    await symlink(outside, join(f.data, 'escape'));
    await writeListing(f.listing, JSON.stringify([{ name: 'site', path: join(f.data, 'site'), repo: f.git.url('site'), touchFile: join(f.data, 'escape', 'touched') }]));
    const d = startDaemon(t, { LISTING_PATH: f.listing, SCRAPE_INTERVAL: '60000', SYNC_ROOT: f.data });
    await d.waitForLog(publishedLine('site', f.first), 'publish');
    // The touch runs just after the publish line: give it a bounded moment to land (or be refused).
    await waitFor(() => d.lines.some((l) => l.message === 'touch file failed') || existsSync(join(outside, 'touched')), { timeoutMs: 10_000, message: 'touch attempted' }).catch(() => undefined);
    assert.deepEqual(await readdir(outside), [], 'a file was created outside SYNC_ROOT');
  },
);

test(
  'a state folder planted as a symlink out of SYNC_ROOT is not written through',
  async (t) => {
    const f = await fixture(t);
    const outside = join(f.root, 'outside');
    await mkdir(outside);
    await symlink(outside, join(f.data, '.site.git-autosync'));
    await writeListing(f.listing, JSON.stringify([{ name: 'site', path: join(f.data, 'site'), repo: f.git.url('site') }]));
    const d = startDaemon(t, { LISTING_PATH: f.listing, SCRAPE_INTERVAL: '60000', SYNC_ROOT: f.data });
    await d.waitForLog((l) => (l.message === 'published' || l.message === 'sync failed') && l.repo === 'site', 'first sync outcome');
    assert.deepEqual(await readdir(outside), [], 'git state was written outside SYNC_ROOT');
  },
);

test('credentials files that are missing, directories or FIFOs fail that entry alone, as a config error naming the field', async (t) => {
  const f = await fixture(t);
  const secrets = join(f.root, 'secrets');
  await mkdir(join(secrets, 'a-directory'), { recursive: true });
  // Root reads any file whatever its mode, so "unreadable" is a FIFO (no writer: open() would block) or a folder.
  execFileSync('mkfifo', [join(secrets, 'a-fifo')]);
  await writeFile(join(secrets, 'user'), 'someone\n');
  await writeFile(join(secrets, 'pass'), 'hunter22\n');
  // Nothing listens on port 1: the credentials are read (and refused) before any connection.
  const ssh = 'ssh://git@127.0.0.1:1/srv/x.git';
  const http = 'http://127.0.0.1:1/x.git';
  const cases = [
    { name: 'key-missing', repo: ssh, sshKeyFile: join(secrets, 'missing'), field: 'sshKeyFile', why: /cannot be read \(ENOENT\)/ },
    { name: 'key-dir', repo: ssh, sshKeyFile: join(secrets, 'a-directory'), field: 'sshKeyFile', why: /is not a regular file/ },
    { name: 'key-fifo', repo: ssh, sshKeyFile: join(secrets, 'a-fifo'), field: 'sshKeyFile', why: /is not a regular file/ },
    { name: 'hosts-dir', repo: ssh, knownHostsFile: join(secrets, 'a-directory'), field: 'knownHostsFile', why: /is not a regular file/ },
    { name: 'hosts-missing', repo: ssh, knownHostsFile: join(secrets, 'missing'), field: 'knownHostsFile', why: /cannot be read \(ENOENT\)/ },
    { name: 'user-dir', repo: http, usernameFile: join(secrets, 'a-directory'), passwordFile: join(secrets, 'pass'), field: 'usernameFile', why: /is not a regular file/ },
    { name: 'pass-fifo', repo: http, usernameFile: join(secrets, 'user'), passwordFile: join(secrets, 'a-fifo'), field: 'passwordFile', why: /is not a regular file/ },
    { name: 'pass-missing', repo: http, usernameFile: join(secrets, 'user'), passwordFile: join(secrets, 'missing'), field: 'passwordFile', why: /cannot be read \(ENOENT\)/ },
  ];
  const entries = [
    ...cases.map(({ field: _field, why: _why, ...e }) => ({ ...e, path: join(f.data, e.name) })),
    { name: 'site', path: join(f.data, 'site'), repo: f.git.url('site'), branch: 'main' },
  ];
  await writeListing(f.listing, JSON.stringify(entries));
  const d = startDaemon(t, { LISTING_PATH: f.listing, SCRAPE_INTERVAL: '300' });
  const base = await d.httpUrl();
  await d.waitForLog(publishedLine('site', f.first), 'the good entry publishes');
  for (const c of cases) {
    const failed = await d.waitForLog((l) => l.message === 'sync failed' && l.repo === c.name, `${c.name} fails`);
    assert.equal(failed.kind, 'config', `${c.name}: ${String(failed.error)}`);
    assert.ok(String(failed.error).startsWith(`"${c.field}" `), `${c.name}: ${String(failed.error)}`);
    assert.match(String(failed.error), c.why);
    const status = JSON.parse((await rawRequest(base, { path: `/status/${c.name}` })).body) as { lastError: { kind: string } | null };
    assert.equal(status.lastError?.kind, 'config');
  }
  // The bad entries go on failing on their own; the good one keeps syncing.
  const next = await f.site.commit({ 'v.txt': '2' });
  await d.waitForLog(publishedLine('site', next), 'the good entry follows a push');
  assert.equal(d.lines.filter((l) => l.message === 'agent exited; restarting it').length, 0, 'no agent crashed');
  assert.ok(!d.output().includes('hunter22'), 'the password never reaches a log line');
});
