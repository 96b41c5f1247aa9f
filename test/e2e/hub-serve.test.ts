// SERVE_GIT (#17): a daemon serves each entry's published commit over smart HTTP at /git/{name},
// to real git, v2 and v0: only with the token, only the published commit (a commit the
// pre-publish hook vetoed is neither advertised nor given when asked for by id), read-only.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.js';
import { git, GitCommandError } from '../support/git-repo.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { serveRepos } from '../support/served-repos.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

const TOKEN = 'hub-token-for-tests';
const auth = (token: string) => ['-c', `http.extraHeader=Authorization: Bearer ${token}`];

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof GitCommandError || err instanceof Error) return err.message;
  }
  assert.fail('expected git to fail');
}

test('the published commit is served to real git over v2 and v0, with the token only, read-only; a vetoed commit never', async (t) => {
  const s = await serveRepos(t, { app: { 'config.txt': 'good 1\n' }, quiet: { 'q.txt': 'q\n' } });
  await writeFile(s.listing, JSON.stringify([
    { name: 'app', path: join(s.data, 'app'), repo: s.git.url('app'), branch: 'main', prePublishHook: { command: ['sh', '-c', '! grep -q broken config.txt'] } },
    { name: 'quiet', path: join(s.data, 'quiet'), repo: s.git.url('quiet'), branch: 'main', serve: false },
  ]));
  const tokenFile = join(s.root, 'serve-token');
  await writeFile(tokenFile, `${TOKEN}\n`);
  const hub = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '300', SERVE_GIT: 'true', SERVE_TOKEN_FILE: tokenFile });
  const base = await hub.httpUrl();
  await hub.waitForLog((l) => l.message === 'published' && l.repo === 'app' && l.commit === s.heads.app, 'app published', 60_000);
  const work = await makeTempDir(t);
  const gitCounts = async () => {
    const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    return { answered: sampleValue(m, 'git_autosync_serve_requests_total', { endpoint: 'git', result: 'answered' }) ?? 0, served: sampleValue(m, 'git_autosync_serve_requests_total', { endpoint: 'git', result: 'served' }) ?? 0 };
  };
  // A poll over v2 (what a spoke's probe and `git ls-remote` send) is answered without running git.
  const before = await gitCounts();
  const polled = await git(work, ['-c', 'protocol.version=2', ...auth(TOKEN), 'ls-remote', `${base}/git/app`, 'refs/heads/main']);
  assert.equal(polled.trim(), `${s.heads.app}\trefs/heads/main`);
  const after = await gitCounts();
  assert.equal(after.answered - before.answered, 2, 'info/refs and ls-refs answered in process');
  assert.equal(after.served, before.served, 'no upload-pack ran for them');

  for (const version of ['2', '0']) {
    const dest = join(work, `v${version}`);
    await git(work, ['-c', `protocol.version=${version}`, ...auth(TOKEN), 'clone', '--quiet', '--depth', '1', `${base}/git/app`, dest]);
    assert.equal((await git(dest, ['rev-parse', 'HEAD'])).trim(), s.heads.app, `v${version}: HEAD is the published commit`);
    assert.equal(await readFile(join(dest, 'config.txt'), 'utf8'), 'good 1\n');
    const refs = await git(work, ['-c', `protocol.version=${version}`, ...auth(TOKEN), 'ls-remote', `${base}/git/app`]);
    // (git 2.39's v2 ls-refs names a namespace's HEAD twice: once as HEAD, once as a ref of the namespace.)
    const lines = refs.trim().split('\n').map((l) => l.split('\t'));
    assert.deepEqual([...new Set(lines.map((l) => l[1]))].sort(), ['HEAD', 'refs/heads/main', 'refs/heads/published'], `v${version}: only the published commit's refs`);
    assert.ok(lines.every((l) => l[0] === s.heads.app), `v${version}: all of them the published commit`);
  }

  // The hook vetoes the next commit: the hub keeps serving the last good one.
  const vetoed = await s.repos.app.commit({ 'config.txt': 'broken\n' });
  await waitFor(async () => ((await (await fetch(`${base}/status/app`)).json()) as { vetoedCommit: string | null }).vetoedCommit === vetoed, { timeoutMs: 60_000, message: 'the hub vetoes the commit' });
  for (const version of ['2', '0']) {
    const refs = await git(work, ['-c', `protocol.version=${version}`, ...auth(TOKEN), 'ls-remote', `${base}/git/app`]);
    assert.ok(!refs.includes(vetoed), `v${version}: the vetoed commit is not advertised`);
    assert.ok(refs.includes(s.heads.app), `v${version}: the last good commit still is`);
    // Asked for by id (the hub has its objects: it fetched it), it is refused all the same.
    const dest = join(work, `v${version}`);
    const message = await failure(git(dest, ['-c', `protocol.version=${version}`, ...auth(TOKEN), 'fetch', '--quiet', '--depth', '1', `${base}/git/app`, vetoed]));
    // v0's client gives up itself, seeing no allow-*-in-want capability; the server refuses anyway.
    assert.match(message, /403|not our ref|unadvertised object/, `v${version}: ${message}`);
  }
  const pkt = (line: string) => `${(line.length + 4).toString(16).padStart(4, '0')}${line}`;
  const raw = await fetch(`${base}/git/app/git-upload-pack`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-git-upload-pack-request' },
    body: `${pkt(`want ${vetoed} ofs-delta\n`)}0000${pkt('done\n')}`,
  });
  assert.equal(raw.status, 403, 'a hand-made v0 request for the vetoed commit is refused by the server');
  assert.match(await raw.text(), /not our ref/);
  const good = await s.repos.app.commit({ 'config.txt': 'good 2\n' });
  await waitFor(async () => (await git(work, ['ls-remote', `${base.replace('http://', `http://x:${TOKEN}@`)}/git/app`, 'HEAD'])).startsWith(good), {
    timeoutMs: 60_000,
    message: 'the next good commit is served (Basic credentials with the token as password work too)',
  });
  await git(join(work, 'v2'), [...auth(TOKEN), 'fetch', '--quiet', '--depth', '1', `${base}/git/app`, 'published']);
  await git(join(work, 'v2'), ['reset', '--quiet', '--hard', 'FETCH_HEAD']);
  assert.equal(await readFile(join(work, 'v2', 'config.txt'), 'utf8'), 'good 2\n', 'a fetch brings the new tree');

  // Without the token, with a wrong one, for an entry not served, and for a push: refused.
  assert.match(await failure(git(work, ['clone', '--quiet', `${base}/git/app`, join(work, 'anon')], { GIT_TERMINAL_PROMPT: '0' })), /401|Authentication failed|could not read Username/);
  assert.match(await failure(git(work, [...auth('wrong'), 'ls-remote', `${base}/git/app`])), /401|Authentication failed|could not read Username/);
  assert.match(await failure(git(work, [...auth(TOKEN), 'ls-remote', `${base}/git/quiet`])), /not found|404/);
  assert.match(await failure(git(work, [...auth(TOKEN), 'ls-remote', `${base}/git/nothing`])), /not found|404/);
  assert.match(await failure(git(join(work, 'v2'), [...auth(TOKEN), 'push', `${base}/git/app`, 'HEAD:refs/heads/main'])), /403|read-only/);
  assert.equal((await fetch(`${base}/git/app/info/refs`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 403, 'the dumb protocol is not served');
  assert.equal((await fetch(`${base}/git/app/HEAD`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404, 'nor any file of the repository');
  assert.equal((await fetch(`${base}/git/app/objects/info/packs`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);

  const metrics = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  assert.ok((sampleValue(metrics, 'git_autosync_serve_requests_total', { endpoint: 'git', result: 'served' }) ?? 0) >= 8);
  assert.ok((sampleValue(metrics, 'git_autosync_serve_requests_total', { endpoint: 'git', result: 'unauthorized' }) ?? 0) >= 2);
  assert.ok((sampleValue(metrics, 'git_autosync_serve_requests_total', { endpoint: 'git', result: 'refused' }) ?? 0) >= 3);
  assert.ok(!hub.output().includes(TOKEN), 'the token is in no log line');
  assert.equal(await hub.stop('SIGTERM'), 0);
});

test('SERVE_GIT refuses to start with neither a token nor an open bind; the open bind serves without one, and only /git and /events', async (t) => {
  const s = await serveRepos(t, { app: { 'a.txt': '1\n' } });
  await writeFile(s.listing, JSON.stringify([{ name: 'app', path: join(s.data, 'app'), repo: s.git.url('app'), branch: 'main' }]));
  const refused = startDaemon(t, { LISTING_PATH: s.listing, SERVE_GIT: 'true' });
  assert.notEqual(await refused.exited, 0);
  assert.match(refused.output(), /SERVE_GIT=true needs SERVE_TOKEN_FILE/);

  const open = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '300', SERVE_GIT: 'true', SERVE_OPEN_BIND: '127.0.0.1:0' });
  await open.waitForLog((l) => l.message === 'published' && l.commit === s.heads.app, 'published', 60_000);
  const line = await open.waitForLog((l) => l.message === 'http listening' && l.setting === 'SERVE_OPEN_BIND', 'the open bind listens');
  const openBase = `http://${String(line.address)}`;
  const work = await makeTempDir(t);
  const refs = await git(work, ['ls-remote', `${openBase}/git/app`, 'HEAD']);
  assert.ok(refs.startsWith(s.heads.app), refs);
  assert.equal((await fetch(`${openBase}/status`)).status, 404, 'the open bind has no operations surface');
  const events = await fetch(`${openBase}/events`);
  assert.equal(events.status, 200, 'and streams events without a token');
  await events.body?.cancel();
  // The operations port, without SERVE_TOKEN_FILE, serves no repository.
  assert.equal((await fetch(`${await open.httpUrl()}/git/app/info/refs?service=git-upload-pack`)).status, 404);
  assert.equal(await open.stop('SIGTERM'), 0);
});

test('an entry removed from the listing is withdrawn: its refs leave the store it shared, and it is no longer served', async (t) => {
  const s = await serveRepos(t, { app: { 'a.txt': '1\n' } });
  const entries = [
    { name: 'one', path: join(s.data, 'one'), repo: s.git.url('app'), branch: 'main' },
    { name: 'two', path: join(s.data, 'two'), repo: s.git.url('app'), branch: 'main' },
  ];
  await writeFile(s.listing, JSON.stringify(entries));
  const tokenFile = join(s.root, 'serve-token');
  await writeFile(tokenFile, `${TOKEN}\n`);
  const hub = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '300', SERVE_GIT: 'true', SERVE_TOKEN_FILE: tokenFile });
  const base = await hub.httpUrl();
  const work = await makeTempDir(t);
  for (const name of ['one', 'two']) {
    await waitFor(async () => (await git(work, [...auth(TOKEN), 'ls-remote', `${base}/git/${name}`, 'HEAD']).catch(() => '')).startsWith(s.heads.app), { timeoutMs: 60_000, message: `${name} served` });
  }
  // Both entries fetch into one shared store (same remote, same folder): find it by its refs.
  const stores = join(s.data, '.git-autosync-stores');
  const store = join(stores, (await readdir(stores))[0]!);
  const namespaces = async () => (await git(store, ['--git-dir', store, 'for-each-ref', '--format=%(refname)', 'refs/namespaces/'])).trim().split('\n').filter(Boolean);
  assert.equal((await namespaces()).length, 6, 'each entry: HEAD, published, main');
  await writeFile(s.listing, JSON.stringify(entries.slice(0, 1)));
  await waitFor(async () => (await namespaces()).length === 3, { timeoutMs: 60_000, message: "the removed entry's refs leave the store" });
  assert.ok((await namespaces()).every((r) => r.startsWith(`refs/namespaces/git-autosync-serve-${Buffer.from('one').toString('hex')}/`)));
  assert.match(await failure(git(work, [...auth(TOKEN), 'ls-remote', `${base}/git/two`])), /not found|404/);
  assert.equal(await hub.stop('SIGTERM'), 0);
});

test('spokes fetching one publish together share one pack (the pack cache); a symlink planted as the cache folder is not written through', async (t) => {
  const s = await serveRepos(t, { app: { 'a.txt': 'one\n', 'b.txt': 'two\n' } });
  await writeFile(s.listing, JSON.stringify([{ name: 'app', path: join(s.data, 'app'), repo: s.git.url('app'), branch: 'main' }]));
  const tokenFile = join(s.root, 'serve-token');
  await writeFile(tokenFile, `${TOKEN}\n`);
  const hub = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '300', SERVE_GIT: 'true', SERVE_TOKEN_FILE: tokenFile });
  const base = await hub.httpUrl();
  await hub.waitForLog((l) => l.message === 'published' && l.commit === s.heads.app, 'published', 60_000);
  const work = await makeTempDir(t);
  const cloneOne = async (i: number) => {
    const dest = join(work, `c${i}`);
    await git(work, [...auth(TOKEN), 'clone', '--quiet', '--depth', '1', `${base}/git/app`, dest]);
    await git(dest, ['fsck', '--no-progress']);
    return { head: (await git(dest, ['rev-parse', 'HEAD'])).trim(), b: await readFile(join(dest, 'b.txt'), 'utf8') };
  };
  const cache = join(s.data, '.app.git-autosync', 'repo.git', 'git-autosync-packs');
  const cached = async () => (await readdir(cache)).filter((f) => f.endsWith('.pack'));
  const clones = [await cloneOne(0)];
  const [pack] = await cached();
  assert.ok(pack !== undefined, 'the first fetch made a pack and kept it');
  const made = (await stat(join(cache, pack))).ino;
  clones.push(...(await Promise.all(Array.from({ length: 7 }, (_, i) => cloneOne(i + 1)))));
  for (const c of clones) assert.deepEqual(c, { head: s.heads.app, b: 'two\n' }, 'every clone is whole and right');
  assert.deepEqual(await cached(), [pack], 'seven more identical fetches made no other pack');
  // A pack made again would have been renamed over the kept one: the same inode says it was served, not remade.
  assert.equal((await stat(join(cache, pack))).ino, made, 'the kept pack was served to the seven');
  assert.deepEqual((await readdir(cache)).filter((f) => !f.endsWith('.pack')), [], 'no temporary file left');

  // Someone with write access to the volume plants a symlink where the cache is.
  const elsewhere = join(work, 'elsewhere');
  await mkdir(elsewhere);
  await rm(cache, { recursive: true });
  await symlink(elsewhere, cache);
  const dest = join(work, 'after');
  await git(work, [...auth(TOKEN), 'clone', '--quiet', '--depth', '1', `${base}/git/app`, dest]);
  assert.equal((await git(dest, ['rev-parse', 'HEAD'])).trim(), s.heads.app, 'fetches still work, uncached');
  assert.deepEqual(await readdir(elsewhere), [], 'nothing was written through the symlink');
  assert.equal(await hub.stop('SIGTERM'), 0);
});
