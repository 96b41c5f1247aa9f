// Hub and spokes (#17): real daemons on loopback. One hub syncs from the origin and serves
// (SERVE_GIT); spokes fetch from the hub only and follow its /events (FOLLOW_EVENTS). A push
// reaches every spoke through the stream; a spoke whose stream is cut polls the hub meanwhile and
// reconnects; a vetoed commit never reaches a spoke; a hub outage leaves every spoke on its last
// good tree, saying so, until the hub is back.
import assert from 'node:assert/strict';
import { mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { serveRepos } from '../support/served-repos.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { freePort, waitFor, type Cleanup } from '../support/tmp.js';

const TOKEN = 'hub-and-spokes-token';

interface Spoke {
  daemon: RunningDaemon;
  base: string;
  path: string;
}

interface EntryStatus {
  publishedCommit: string | null;
  lastSyncAt: string | null;
  lastError: { message: string } | null;
  hub?: { events: string; stream: 'connected' | 'down'; reason: string | null };
}

const status = async (base: string, name = 'app') => (await (await fetch(`${base}/status/${name}`)).json()) as EntryStatus;
/** The commit a spoke publishes at `path` (symlink mode: the link's target is named after it). */
const publishedAt = async (path: string) => basename(await realpath(path).catch(() => ''));

async function startHub(t: Cleanup, root: string, origin: string, port: number) {
  const listing = join(root, 'hub-listing.json');
  await writeFile(listing, JSON.stringify([{ name: 'app', path: join(root, 'hub', 'app'), repo: origin, branch: 'main', prePublishHook: { command: ['sh', '-c', '! grep -q broken config.txt'] } }]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '300', SERVE_GIT: 'true', SERVE_TOKEN_FILE: join(root, 'token'), HTTP_BIND: `127.0.0.1:${port}` });
  return { daemon, base: await daemon.httpUrl() };
}

async function startSpoke(t: Cleanup, root: string, id: string, hub: string, opts: { interval: string }): Promise<Spoke> {
  const dir = join(root, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'user'), 'spoke\n');
  const path = join(dir, 'data', 'app');
  const listing = join(dir, 'listing.json');
  await writeFile(listing, JSON.stringify([{ name: 'app', path, repo: `${hub}/git/app`, branch: 'main', usernameFile: join(dir, 'user'), passwordFile: join(root, 'token') }]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: opts.interval, FOLLOW_EVENTS: `${hub}/events`, FOLLOW_TOKEN_FILE: join(root, 'token') });
  return { daemon, base: await daemon.httpUrl(), path };
}

test('a push reaches every spoke through the hub event stream; a cut stream falls back to polling and reconnects; a vetoed commit never reaches a spoke', async (t) => {
  const s = await serveRepos(t, { app: { 'config.txt': 'release 1\n' } });
  await writeFile(join(s.root, 'token'), `${TOKEN}\n`);
  const hub = await startHub(t, s.root, s.git.url('app'), await freePort());
  await hub.daemon.waitForLog((l) => l.message === 'published' && l.commit === s.heads.app, 'the hub publishes', 60_000);
  // Two spokes that poll only every ten minutes: whatever they publish quickly came from the stream.
  const followers = [await startSpoke(t, s.root, 'spoke-a', hub.base, { interval: '600000' }), await startSpoke(t, s.root, 'spoke-b', hub.base, { interval: '600000' })];
  // One that reaches the hub through a proxy whose stream the test cuts, polling every 1.5 s.
  const proxy = await startTcpProxy(t, Number(new URL(hub.base).port));
  const cut = await startSpoke(t, s.root, 'spoke-c', `http://127.0.0.1:${proxy.port}`, { interval: '1500' });
  const spokes = [...followers, cut];
  for (const sp of spokes) {
    await waitFor(async () => (await publishedAt(sp.path)) === s.heads.app, { timeoutMs: 60_000, message: 'each spoke publishes the hub commit' });
    await waitFor(async () => (await status(sp.base)).hub?.stream === 'connected', { timeoutMs: 60_000, message: 'each spoke follows the stream' });
  }

  const second = await s.repos.app.commit({ 'config.txt': 'release 2\n' });
  for (const sp of spokes) await waitFor(async () => (await publishedAt(sp.path)) === second, { timeoutMs: 60_000, message: 'the push reaches every spoke' });
  assert.equal(await readFile(join(followers[0]!.path, 'config.txt'), 'utf8'), 'release 2\n');

  // The hub vetoes the next commit: no spoke ever gets it.
  const vetoed = await s.repos.app.commit({ 'config.txt': 'broken\n' });
  await waitFor(async () => ((await (await fetch(`${hub.base}/status/app`)).json()) as { vetoedCommit: string | null }).vetoedCommit === vetoed, { timeoutMs: 60_000, message: 'the hub vetoes' });
  // The cut spoke polls every 1.5 s: once it has polled twice since the veto, it has had its chance.
  const vetoedAt = Date.now();
  await waitFor(async () => Date.parse((await status(cut.base)).lastSyncAt ?? '') > vetoedAt + 1600, { timeoutMs: 60_000, message: 'the polling spoke asks the hub again' });
  for (const sp of spokes) assert.equal(await publishedAt(sp.path), second, 'a vetoed commit never reaches a spoke');

  // Cut the stream: the spoke says so, and polls the hub meanwhile.
  proxy.cut('GET /events');
  await waitFor(async () => (await status(cut.base)).hub?.stream === 'down', { timeoutMs: 60_000, message: 'the cut spoke sees its stream down' });
  const third = await s.repos.app.commit({ 'config.txt': 'release 3\n' });
  await waitFor(async () => (await publishedAt(cut.path)) === third, { timeoutMs: 60_000, message: 'the cut spoke gets the push by polling the hub' });
  const down = await status(cut.base);
  assert.equal(down.hub?.stream, 'down', 'it was polling, not streaming');
  assert.ok(down.hub?.reason, 'and says why the stream is down');
  for (const sp of followers) await waitFor(async () => (await publishedAt(sp.path)) === third, { timeoutMs: 60_000, message: 'the streaming spokes get it too' });

  proxy.restore();
  await waitFor(async () => (await status(cut.base)).hub?.stream === 'connected', { timeoutMs: 90_000, message: 'the stream reconnects (backoff with jitter, at most 30 s)' });
  assert.ok(cut.daemon.lines.filter((l) => l.message === 'following the hub').length >= 2, 'it connected twice');
  for (const sp of spokes) assert.ok(!sp.daemon.output().includes(TOKEN), 'the token is in no spoke log line');
  assert.ok(!hub.daemon.output().includes(TOKEN), 'nor in the hub log');
});

test('a hub outage keeps every spoke on its last good tree, saying it waits for the hub; when the hub is back, spokes follow again', async (t) => {
  const s = await serveRepos(t, { app: { 'config.txt': 'release 1\n' } });
  await writeFile(join(s.root, 'token'), `${TOKEN}\n`);
  const port = await freePort();
  let hub = await startHub(t, s.root, s.git.url('app'), port);
  await hub.daemon.waitForLog((l) => l.message === 'published' && l.commit === s.heads.app, 'the hub publishes', 60_000);
  const spokes = [await startSpoke(t, s.root, 'spoke-a', hub.base, { interval: '600000' }), await startSpoke(t, s.root, 'spoke-b', hub.base, { interval: '1000' })];
  for (const sp of spokes) {
    await waitFor(async () => (await publishedAt(sp.path)) === s.heads.app, { timeoutMs: 60_000, message: 'each spoke publishes' });
    await waitFor(async () => (await status(sp.base)).hub?.stream === 'connected', { timeoutMs: 60_000, message: 'each spoke follows' });
  }

  assert.equal(await hub.daemon.stop('SIGTERM'), 0);
  for (const sp of spokes) await waitFor(async () => (await status(sp.base)).hub?.stream === 'down', { timeoutMs: 60_000, message: 'each spoke sees the hub gone' });
  // The polling spoke fails against the hub, and keeps serving its tree all the same.
  const failing = await waitFor(async () => {
    const st = await status(spokes[1]!.base);
    return st.lastError !== null && st;
  }, { timeoutMs: 60_000, message: 'the polling spoke fails to reach the hub' });
  assert.equal(failing.publishedCommit, s.heads.app);
  for (const sp of spokes) {
    assert.equal(await publishedAt(sp.path), s.heads.app, 'the last good tree stays published');
    assert.equal(await readFile(join(sp.path, 'config.txt'), 'utf8'), 'release 1\n');
  }
  const next = await s.repos.app.commit({ 'config.txt': 'release 2\n' });

  // The hub comes back on its address: spokes reconnect and catch up with what they missed.
  hub = await startHub(t, s.root, s.git.url('app'), port);
  await hub.daemon.waitForLog((l) => l.message === 'published' && l.commit === next, 'the hub publishes the new commit', 60_000);
  for (const sp of spokes) await waitFor(async () => (await publishedAt(sp.path)) === next, { timeoutMs: 90_000, message: 'every spoke catches up once the hub is back' });
  await waitFor(async () => (await status(spokes[0]!.base)).hub?.stream === 'connected', { timeoutMs: 60_000, message: 'the stream is back' });
});
