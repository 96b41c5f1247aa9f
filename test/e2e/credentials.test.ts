// Issue #13 end to end, the daemon as a process: the daemon-wide CREDENTIALS_FILE gives a private
// repository its credential, which then appears nowhere (logs, /status, /metrics, the agent's
// argv and environment, .git/config); it goes only to entries in its scope and a rotated
// password is used without a restart; and a cross-origin submodule fails clearly in /status,
// naming the origin that had no credential, while that origin is sent nothing.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { basicAuth, credentialFiles, crossOriginSubmodule } from '../support/cross-origin.js';
import { startDaemon, type LogLine, type RunningDaemon } from '../support/daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

const env = (listing: string) => ({ LISTING_PATH: listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200' });
const published = (name: string, commit: string) => (l: LogLine) => l.message === 'published' && l.repo === name && l.commit === commit;

async function get(base: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.text() };
}

/** Every regular file under `dir` (git state, published trees), for a secret search. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return filesUnder(p);
    return d.isFile() ? [p] : [];
  });
}

/** The forms a password takes: as is, URL-encoded, and the base64 of a Basic header. */
function forms(username: string, password: string): string[] {
  const basic = Buffer.from(`${username}:${password}`).toString('base64');
  return [password, encodeURIComponent(password), basic, basic.replace(/=+$/, '')];
}

function assertAbsent(where: string, text: string, secrets: string[]): void {
  for (const s of secrets) assert.ok(!text.includes(s), `a form of the password (${s.slice(0, 3)}…) appears in ${where}`);
}

test('CREDENTIALS_FILE alone authenticates a private repository, and its password appears nowhere', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const site = await RemoteRepo.create(serveRoot, 'site');
  const first = await site.commit({ 'index.html': 'private\n' });
  // A space and an "@": the URL-encoded form differs from the plain one.
  const http = await startHttpGitServer(t, serveRoot, { username: 'org-bot', password: 'pw daemon@wide-5150' });
  const secrets = await credentialFiles(root, 'org', http);
  const credentialsFile = join(root, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify([{ url: `http://127.0.0.1:${http.port}/`, ...secrets }]));
  const listing = join(root, 'listing.json');
  const path = join(root, 'data', 'site');
  // No credential in the listing entry: only the daemon-wide file has one.
  await writeFile(listing, JSON.stringify([{ path, repo: http.url('site'), branch: 'main' }]));

  const daemon = startDaemon(t, { ...env(listing), CREDENTIALS_FILE: credentialsFile });
  await daemon.waitForLog(published('site', first), 'site published with the daemon-wide credential', 60_000);
  assert.equal(readPublishedFile(path, 'index.html'), 'private\n');
  const next = await site.commit({ 'index.html': 'private 2\n' });
  await daemon.waitForLog(published('site', next), 'site follows a push', 60_000);
  assert.equal(publishedCommit(path), next);
  assert.ok(http.authorizations.length > 0, 'the server was never sent a credential');
  assert.ok(http.authorizations.every((h) => h === basicAuth(http)), 'the server was sent something other than the file\'s credential');

  const hidden = forms(http.username, http.password);
  const agentPid = (await daemon.waitForLog((l) => l.message === 'agent process started' && l.repo === 'site', 'agent started')).pid as number;
  for (const pid of [agentPid, daemon.pid]) {
    assertAbsent(`/proc/${pid}/cmdline`, readFileSync(`/proc/${pid}/cmdline`, 'latin1'), hidden);
    assertAbsent(`/proc/${pid}/environ`, readFileSync(`/proc/${pid}/environ`, 'latin1'), hidden);
  }
  const base = await daemon.httpUrl();
  for (const route of ['/status', '/status/site', '/metrics']) {
    const r = await get(base, route);
    assert.equal(r.status, 200, `${route}: ${r.body}`);
    assertAbsent(route, r.body, hidden);
  }
  // Stopped first: a running agent removes superseded worktrees, and a walk beside it would race that removal.
  assert.equal(await daemon.stop(), 0);
  // .git/config and everything else git keeps (a credential store would be a file here too).
  const state = stateDirOf(path);
  const config = filesUnder(state).filter((f) => f.endsWith('/config'));
  assert.ok(config.length > 0, `no git config under ${state}`);
  for (const f of filesUnder(state).filter((p) => statSync(p).size < 1_000_000)) assertAbsent(f, readFileSync(f, 'latin1'), hidden);
  assertAbsent('the daemon\'s output', daemon.output(), hidden);
});

test('a submodule on another origin fails the sync clearly: /status names that origin, which is sent nothing', async (t) => {
  const { root, a, b, path } = await crossOriginSubmodule(t);
  const creds = await credentialFiles(root, 'a', a);
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify([{ name: 'app', path, repo: a.url('app'), branch: 'main', ...creds }]));
  const daemon: RunningDaemon = startDaemon(t, env(listing));
  const failed = await daemon.waitForLog((l) => l.message === 'sync failed' && l.repo === 'app', 'app sync failed', 60_000);
  assert.equal(failed.kind, 'auth', JSON.stringify(failed));
  const base = await daemon.httpUrl();
  const status = await waitFor(
    async () => {
      const r = await get(base, '/status/app');
      const body = JSON.parse(r.body) as { lastError?: { kind: string; message: string } | null };
      return r.status === 200 && body.lastError != null && body;
    },
    { message: '/status/app shows the failure', timeoutMs: 30_000 },
  );
  const bOrigin = `127.0.0.1:${b.port}`;
  assert.equal(status.lastError?.kind, 'auth', JSON.stringify(status));
  assert.ok(status.lastError?.message.includes(bOrigin), `/status/app should name ${bOrigin}, the origin with no credential: ${status.lastError?.message}`);
  // In our words, not only git's "could not read Username": why nothing was sent, and what to do.
  assert.ok(status.lastError?.message.includes(`no credential is configured for http://${bOrigin}/`), `/status/app should say no credential is configured for ${bOrigin}: ${status.lastError?.message}`);
  assert.equal(publishedCommit(path), null, 'nothing was published without the submodule');
  assert.ok(b.requests > 0, 'the submodule was never asked for');
  assert.deepEqual(b.authorizations, [], 'origin B was sent an Authorization header');
  assert.ok(a.authorizations.every((h) => h === basicAuth(a)), 'origin A was sent something other than its own credential');
  assertAbsent('/status/app', JSON.stringify(status), forms(a.username, a.password));
});

test('a CREDENTIALS_FILE credential goes only to entries in its scope, and a rotated password is used at the next attempt', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const inside = await RemoteRepo.create(serveRoot, 'org/site');
  const insideFirst = await inside.commit({ 'v.txt': 'org\n' });
  await RemoteRepo.create(serveRoot, 'orgx/site').then((r) => r.commit({ 'v.txt': 'orgx\n' }));
  let password = 'pw-before-rotation-2718';
  const user = 'org-bot';
  const accepted = () => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const http = await startHttpGitServer(t, serveRoot, { username: user, authorize: (h) => h === accepted() });
  const usernameFile = join(root, 'org-user');
  const passwordFile = join(root, 'org-pass');
  await writeFile(usernameFile, `${user}\n`);
  await writeFile(passwordFile, `${password}\n`);
  const credentialsFile = join(root, 'credentials.json');
  // "/org" is a string-prefix of "/orgx" but not a path-prefix: orgx gets nothing.
  await writeFile(credentialsFile, JSON.stringify([{ url: `http://127.0.0.1:${http.port}/org`, usernameFile, passwordFile }]));
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify([
    { name: 'inside', path: join(root, 'data', 'inside'), repo: http.url('org/site'), branch: 'main' },
    { name: 'outside', path: join(root, 'data', 'outside'), repo: http.url('orgx/site'), branch: 'main' },
  ]));
  const daemon = startDaemon(t, { ...env(listing), CREDENTIALS_FILE: credentialsFile });
  await daemon.waitForLog(published('inside', insideFirst), 'inside published', 60_000);
  const failed = await daemon.waitForLog((l) => l.message === 'sync failed' && l.repo === 'outside', 'outside failed', 60_000);
  assert.equal(failed.kind, 'auth', JSON.stringify(failed));
  const toOutside = http.seen.filter((r) => r.path.startsWith('/orgx/'));
  assert.ok(toOutside.length > 0, 'outside never asked the server');
  assert.deepEqual(toOutside.filter((r) => r.authorization !== undefined), [], 'a request outside the scope carried an Authorization header');
  const starts = () => daemon.lines.filter((l) => l.message === 'agent process started' && l.repo === 'inside').length;
  assert.equal(starts(), 1);

  // Rotate: the server takes only the new password from now on, and the file says so.
  const before = forms(user, password);
  password = 'pw-after-rotation-3141';
  await writeFile(passwordFile, `${password}\n`);
  const next = await inside.commit({ 'v.txt': 'org 2\n' });
  await daemon.waitForLog(published('inside', next), 'inside published with the rotated password', 60_000);
  assert.equal(starts(), 1, 'the agent was restarted to pick up the new password');
  assert.ok(http.authorizations.includes(accepted()), 'the rotated password was never sent');
  assert.equal(await daemon.stop(), 0);
  assertAbsent('the daemon\'s output', daemon.output(), [...before, ...forms(user, password)]);
});
