// Consistent sets (#16, `group`): the daemon as a process, members served by git daemon on
// 127.0.0.1, a reader in its own process resolving the group's link once per read.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { getJson } from '../support/http-client.js';
import { serveRepos, type ServedRepos } from '../support/served-repos.js';
import { waitFor, type Cleanup } from '../support/tmp.js';
import { startReaderProcess } from '../support/torn-reader.js';

const MEMBERS = ['dags', 'lib', 'web'] as const;
type Member = (typeof MEMBERS)[number];
const TOKEN = 'group-sync-token';
const SECRET = 'group-webhook-secret';

// Resolves the group once per read (realpath), then reads every member's release.txt inside what
// it found: two different values in one read are a mixed set.
const READER = `
const fs = require('node:fs');
const [link, stopFile, ...members] = process.argv.slice(1);
let reads = 0, mixed = 0, absent = 0;
const seen = new Set();
const examples = [];
while (!fs.existsSync(stopFile)) {
  let dir;
  try { dir = fs.realpathSync(link); } catch { absent++; continue; }
  const values = members.map((m) => { try { return fs.readFileSync(dir + '/' + m + '/release.txt', 'utf8').trim(); } catch { return '(missing)'; } });
  reads++;
  for (const v of values) seen.add(v);
  if (new Set(values).size > 1) { mixed++; if (examples.length < 5) examples.push(values.join(',')); }
}
process.stdout.write(JSON.stringify({ reads, mixed, absent, releases: [...seen], examples }));
`;

interface ReaderCounts {
  reads: number;
  mixed: number;
  absent: number;
  releases: string[];
  examples: string[];
}

function startReleaseReader(t: Cleanup, link: string, stopFile: string): { stop(): Promise<ReaderCounts> } {
  return startReaderProcess<ReaderCounts>(t, READER, [link, stopFile, ...MEMBERS], stopFile);
}

interface GroupFixture {
  s: ServedRepos<Member>;
  set: string;
  daemon: RunningDaemon;
  base: string;
}

/** Three members of group "set" under <data>/set, polled every ten minutes: anything quick was triggered. */
async function startGroup(t: Cleanup, opts: { entries?: (s: ServedRepos<Member>, set: string) => unknown[]; beforeStart?: (s: ServedRepos<Member>) => Promise<void> } = {}): Promise<GroupFixture> {
  const s = await serveRepos(t, { dags: { 'release.txt': '0\n' }, lib: { 'release.txt': '0\n' }, web: { 'release.txt': '0\n' } }, { prefix: 'gas-group-' });
  const set = join(s.data, 'set');
  await writeFile(join(s.root, 'sync-token'), TOKEN);
  await writeFile(join(s.root, 'webhook-secret'), SECRET);
  const entries = opts.entries?.(s, set) ?? MEMBERS.map((m) => ({ path: join(set, m), repo: s.git.url(m), branch: 'main', group: 'set' }));
  await writeFile(s.listing, JSON.stringify(entries));
  await mkdir(s.data, { recursive: true }); // SYNC_ROOT
  await opts.beforeStart?.(s);
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '600000', STALE_AFTER: '1000', SYNC_TOKEN_FILE: join(s.root, 'sync-token'), WEBHOOK_SECRET_FILE: join(s.root, 'webhook-secret'), SYNC_ROOT: s.data });
  const base = await daemon.httpUrl();
  return { s, set, daemon, base };
}

/** Push release `k` into every member (or those given): one commit each, one after the other. */
async function pushRelease(s: ServedRepos<Member>, k: string, members: readonly Member[] = MEMBERS): Promise<Record<Member, string>> {
  const heads = {} as Record<Member, string>;
  for (const m of members) heads[m] = await s.repos[m].commit({ 'release.txt': `${k}\n` }, `release ${k}`);
  return heads;
}

/** Ask for one member only: its group syncs as a whole. */
async function syncOne(base: string, name: string): Promise<void> {
  const res = await fetch(`${base}/sync/${name}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 202);
}

/** A GitHub push webhook for one member's repository: its group syncs as a whole. */
async function pushHook(base: string, url: string): Promise<void> {
  const body = JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: url.replace('git://', 'https://'), html_url: 'https://example.invalid/x' } });
  const sig = createHmac('sha256', SECRET).update(body).digest('hex');
  const res = await fetch(`${base}/webhook/github`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sig}` } });
  assert.equal(res.status, 202);
}

const releasesAt = (set: string) => MEMBERS.map((m) => readFileSync(join(realpathSync(set), m, 'release.txt'), 'utf8').trim());
const shows = (set: string, k: string) => {
  try {
    return releasesAt(set).every((v) => v === k);
  } catch {
    return false;
  }
};

test('a reader that resolves the group once never sees two releases while coordinated pushes land, and a restart adopts the generation', async (t) => {
  const { s, set, daemon, base } = await startGroup(t);
  await waitFor(async () => (await getJson(`${base}/readyz/set`)).status === 200, { message: () => `first generation; daemon said:\n${daemon.output().slice(-6000)}` });
  assert.deepEqual(releasesAt(set), ['0', '0', '0']);
  // Relative links all the way: another container mounting the volume elsewhere resolves them.
  assert.match(readlinkSync(set), /^\.set\.git-autosync-group\/generations\/\d+$/);
  assert.match(readlinkSync(join(set, 'dags')), /^\.\.\/\.\.\/members\/\.dags\.git-autosync\/worktrees\/[0-9a-f]{40}$/);

  const reader = startReleaseReader(t, set, join(s.root, 'stop-reader'));
  let last = {} as Record<Member, string>;
  const RELEASES = 6;
  for (let k = 1; k <= RELEASES; k++) {
    last = await pushRelease(s, String(k));
    // One member's /sync or push webhook: the group reads every member's remote (each has its own agent).
    const one = MEMBERS[k % MEMBERS.length]!;
    if (k % 2 === 0) await pushHook(base, s.git.url(one));
    else await syncOne(base, one);
    await waitFor(() => shows(set, String(k)), { message: () => `release ${k} published; daemon said:\n${daemon.output().slice(-5000)}`, timeoutMs: 30_000 });
  }
  const counts = await reader.stop();
  assert.equal(counts.mixed, 0, `mixed reads: ${counts.examples.join(' | ')}`);
  assert.ok(counts.reads > 100, `the reader read (${counts.reads})`);
  assert.ok(counts.releases.length >= 3, `the reader saw several releases (${counts.releases.join(',')})`);

  const status = (await getJson(`${base}/status/set`)).body;
  assert.equal(status.state, 'published');
  assert.deepEqual(status.commits, last, "/status names every member's commit in the generation");
  assert.equal(typeof status.publishedAt, 'string');
  const generation = status.generation as number;
  assert.ok(generation >= RELEASES + 1, `one generation per release (${generation})`);
  const member = (await getJson(`${base}/status/lib`)).body;
  assert.equal((member.group as { generation: number }).generation, generation, 'a member shows its group');

  // Replaced generations go once readers are done (staleAfter 1 s); the shown one stays.
  const generations = join(s.data, '.set.git-autosync-group', 'generations');
  await waitFor(() => readdirSync(generations).join() === String(generation), { message: () => `only generation ${generation} left (${readdirSync(generations).join()})` });
  assert.equal(readFileSync(join(generations, String(generation), 'web', 'release.txt'), 'utf8'), `${RELEASES}\n`);
  // And the members' trees no generation links any more went with them.
  const worktrees = join(s.data, '.set.git-autosync-group', 'members', '.web.git-autosync', 'worktrees');
  await waitFor(() => readdirSync(worktrees).join() === last.web, { message: () => `only web's current tree left (${readdirSync(worktrees).join()})` });

  assert.equal(await daemon.stop('SIGTERM'), 0);
  const again = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '600000', STALE_AFTER: '1000', SYNC_TOKEN_FILE: join(s.root, 'sync-token'), WEBHOOK_SECRET_FILE: join(s.root, 'webhook-secret'), SYNC_ROOT: s.data });
  const base2 = await again.httpUrl();
  await again.waitForLog((l) => l.message === 'group adopted its generation' && l.generation === generation, 'generation adopted');
  await waitFor(async () => (await getJson(`${base2}/readyz/set`)).status === 200, { message: 'ready after restart' });
  // Every member answered its start-up sync unchanged: nothing new to publish.
  await waitFor(async () => (await getJson(`${base2}/status/set`)).body.state === 'published', { message: 'round settled' });
  assert.equal((await getJson(`${base2}/status/set`)).body.generation, generation, 'no new generation for the same set');
  assert.ok(!again.lines.some((l) => l.message === 'group published'));
});

test('a member whose remote is gone holds the group on its last good generation, /status says so, and /readyz/{group} waits for the first', async (t) => {
  const away = (s: ServedRepos<Member>) => `${s.repos.lib.bareDir}.away`;
  const heldByLib = async (base: string) => {
    const g = (await getJson(`${base}/status/set`)).body;
    return g.state === 'held' && (g.heldBy as Array<{ name: string }>).some((h) => h.name === 'lib') && g;
  };
  const { s, set, daemon, base } = await startGroup(t, {
    entries: (s, set) => [
      ...MEMBERS.map((m) => ({ path: join(set, m), repo: s.git.url(m), branch: 'main', group: 'set' })),
      // Its parent is not the group's: refused by name and field, the others carry on.
      { path: join(s.data, 'elsewhere', 'docs'), repo: s.git.url('web'), branch: 'main', group: 'set' },
    ],
    // lib's repository is gone from the start: no set is ever whole.
    beforeStart: (s) => rename(s.repos.lib.bareDir, away(s)),
  });
  const refusal = await daemon.waitForLog((l) => l.message.startsWith('invalid listing entry'), 'mismatched parent refused');
  assert.match(String(refusal.error), /^listing entry #4 \("docs"\): "group" "set" publishes .*\/data\/set \(entry #1\); the members of one group share one parent folder/);

  const first = await waitFor(() => heldByLib(base), { message: 'held by lib before any generation', timeoutMs: 30_000 });
  assert.equal(first.generation, null);
  const notReady = await getJson(`${base}/readyz/set`);
  assert.equal(notReady.status, 503);
  assert.match(String(notReady.body.reason), /held by "lib"/);
  const daemonReady = await getJson(`${base}/readyz`);
  assert.equal(daemonReady.status, 503);
  assert.ok((daemonReady.body.failing as Array<{ name: string }>).some((f) => f.name === 'set'), 'the daemon waits for the group too');

  await rename(away(s), s.repos.lib.bareDir);
  await syncOne(base, 'web');
  await waitFor(async () => (await getJson(`${base}/readyz/set`)).status === 200, { message: 'first generation once lib is back', timeoutMs: 30_000 });
  assert.deepEqual(releasesAt(set), ['0', '0', '0']);
  const generation = (await getJson(`${base}/status/set`)).body.generation;

  // lib goes again; dags and web move to release 1 and are synced, but never shown without lib.
  await rename(s.repos.lib.bareDir, away(s));
  await pushRelease(s, '1', ['dags', 'web']);
  await syncOne(base, 'dags');
  const held = await waitFor(() => heldByLib(base), { message: 'held by lib', timeoutMs: 30_000 });
  assert.equal(held.generation, generation, 'the last good generation stays');
  assert.match((held.heldBy as Array<{ reason: string }>)[0]!.reason, /\S/);
  assert.deepEqual(releasesAt(set), ['0', '0', '0']);
  assert.equal((await getJson(`${base}/readyz/set`)).status, 200, 'a group held on a generation is still served');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^git_autosync_group_held_members\{group="set"\} 1$/m);
  assert.match(metrics, new RegExp(`^git_autosync_group_generation\\{group="set"\\} ${String(generation)}$`, 'm'));

  await rename(away(s), s.repos.lib.bareDir);
  await pushRelease(s, '1', ['lib']);
  await syncOne(base, 'web');
  await waitFor(() => shows(set, '1'), { message: 'release 1 published once lib is back', timeoutMs: 30_000 });
  const g = (await getJson(`${base}/status/set`)).body;
  assert.equal(g.state, 'published');
  assert.deepEqual(g.heldBy, []);
});

test("the group's pre-publish hook sees the whole candidate set and its veto keeps the old generation", async (t) => {
  // Refuses any set in which some member's release.txt says "veto"; run in the candidate generation.
  const hook = ['node', '-e', "const fs=require('fs');for(const m of ['dags','lib','web']){if(fs.readFileSync(m+'/release.txt','utf8').includes('veto'))process.exit(3)}if(!/dags=[0-9a-f]{40} lib=[0-9a-f]{40} web=[0-9a-f]{40}/.test(process.env.GIT_AUTOSYNC_COMMITS))process.exit(4)"];
  const { s, set, base } = await startGroup(t, {
    entries: (s, set) => MEMBERS.map((m) => ({ path: join(set, m), repo: s.git.url(m), branch: 'main', group: 'set', ...(m === 'lib' ? { prePublishHook: { command: hook } } : {}) })),
  });
  await waitFor(async () => (await getJson(`${base}/readyz/set`)).status === 200, { message: 'first generation passed the hook' });
  const first = (await getJson(`${base}/status/set`)).body.generation;

  // Only web's file says "veto": the hook, configured on lib, still sees it.
  await s.repos.dags.commit({ 'release.txt': '1\n' });
  await s.repos.lib.commit({ 'release.txt': '1\n' });
  await s.repos.web.commit({ 'release.txt': 'veto\n' });
  await syncOne(base, 'dags');
  const vetoed = await waitFor(async () => (await getJson(`${base}/status/set`)).body.vetoed as { message: string } | null, { message: 'veto shown', timeoutMs: 30_000 });
  assert.match(vetoed.message, /pre-publish hook of "lib" exited with 3/);
  assert.deepEqual(releasesAt(set), ['0', '0', '0'], 'the old generation stays');
  assert.equal((await getJson(`${base}/status/set`)).body.generation, first);

  await pushRelease(s, '2');
  await syncOne(base, 'lib');
  await waitFor(() => shows(set, '2'), { message: 'a later set passes', timeoutMs: 30_000 });
  assert.equal((await getJson(`${base}/status/set`)).body.vetoed, null);
});

test("a member whose agent is killed holds the group until its next agent reports; the others' pushes wait for it", async (t) => {
  const { s, set, daemon, base } = await startGroup(t);
  await waitFor(async () => (await getJson(`${base}/readyz/set`)).status === 200, { message: 'first generation' });
  const started = daemon.lines.filter((l) => l.message === 'agent process started' && l.repo === 'lib').at(-1);
  assert.ok(started !== undefined);
  process.kill(started.pid as number, 'SIGKILL');
  await waitFor(async () => {
    const g = (await getJson(`${base}/status/set`)).body;
    return (g.heldBy as Array<{ name: string; reason: string }>).some((h) => h.name === 'lib' && h.reason.startsWith('agent down'));
  }, { message: 'held while lib\'s agent is down' });
  await pushRelease(s, '1');
  await syncOne(base, 'dags');
  // lib's next agent starts after a backoff, syncs at start-up, and the round completes with it.
  await waitFor(() => shows(set, '1'), { message: 'release 1 once lib is back', timeoutMs: 30_000 });
  const g = (await getJson(`${base}/status/set`)).body;
  assert.deepEqual(g.heldBy, []);
});
