// GitHub App authentication end to end: the daemon as a process, a loopback stand-in for the
// GitHub API that verifies the app's JWT and issues short-lived tokens, and a real smart-HTTP git
// server in front of it that accepts only a currently valid installation token.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine, type RunningDaemon } from '../support/daemon.js';
import { newAppKey, startGithubApi, type AppKey } from '../support/github-api.js';
import { startHttpGitServer } from '../support/http-server.js';
import { publishedCommit } from '../support/published.js';
import { serveRepos } from '../support/served-repos.js';
import { scaled, waitFor, type Cleanup } from '../support/tmp.js';

const INSTALLATION = '4242';

async function setup(t: Cleanup, opts: { repos?: string[]; tokenTtlMs?: number } = {}) {
  const key = newAppKey();
  const api = await startGithubApi(t, { keys: [key], installations: [INSTALLATION], ...(opts.tokenTtlMs === undefined ? {} : { tokenTtlMs: opts.tokenTtlMs }) });
  const s = await serveRepos(t, Object.fromEntries((opts.repos ?? ['site']).map((name) => [name, { 'name.txt': `${name}\n` }])), {
    serve: (serveRoot) => startHttpGitServer(t, serveRoot, { authorize: (h) => api.accepts(h) }),
  });
  const { root, git, listing } = s;
  const repos = new Map(Object.entries(s.repos));
  const heads = new Map(Object.entries(s.heads));
  const keyFile = join(root, 'app-key.pem');
  await writeFile(keyFile, key.privatePem, { mode: 0o644 });
  const entry = (name: string, installationId: string | number = INSTALLATION) => ({
    name,
    path: join(root, 'data', name),
    repo: git.url(name),
    branch: 'main',
    githubApp: { appId: api.appId, installationId, privateKeyFile: keyFile, apiUrl: api.url },
  });
  return { root, repos, heads, key, api, git, keyFile, listing, entry };
}

const env = (listing: string) => ({ LISTING_PATH: listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200' });
const published = (name: string, commit: string) => (l: LogLine) => l.message === 'published' && l.repo === name && l.commit === commit;
const authFailures = (d: RunningDaemon) => d.lines.filter((l) => l.message === 'sync failed' && l.kind === 'auth');

/** No token the stand-in issued appears anywhere in the daemon's output. */
function assertNoTokenInOutput(d: RunningDaemon, issued: string[]): void {
  const out = d.output();
  for (const token of issued) assert.ok(!out.includes(token), 'an installation token leaked into the output');
}

test('several entries of one installation share one token; a revoked token is replaced and the sync retried once', async (t) => {
  const s = await setup(t, { repos: ['site', 'docs', 'api'] });
  await writeFile(s.listing, JSON.stringify(['site', 'docs', 'api'].map((n) => s.entry(n))));
  const daemon = startDaemon(t, env(s.listing));
  for (const [name, head] of s.heads) await daemon.waitForLog(published(name, head), `${name} published`, 60_000);
  // Let a few polls pass: none of them asks for a token while the one minted is fresh.
  const unchanged = (name: string) => daemon.lines.filter((l) => l.message === 'unchanged' && l.repo === name).length;
  await waitFor(() => ['site', 'docs', 'api'].every((n) => unchanged(n) >= 5), { timeoutMs: 60_000, message: 'five unchanged polls each' });
  assert.equal(s.api.minted(), 1, 'three entries, one token request');

  s.api.revokeAll();
  const next = new Map<string, string>();
  for (const [name, repo] of s.repos) next.set(name, await repo.commit({ 'name.txt': `${name} 2\n` }));
  for (const [name, head] of next) await daemon.waitForLog(published(name, head), `${name} published with a fresh token`, 60_000);
  assert.equal(s.api.minted(), 2, 'the revoked token was replaced once for all three entries');
  assert.ok(daemon.lines.some((l) => l.message === 'minted token refused; retrying once with a fresh one'), 'a refused token was retried');
  assert.deepEqual(authFailures(daemon), [], 'a refused token that a fresh one replaces is not an auth failure');

  // The token's file: private folder on tmpfs, 0600, gone when the daemon stops.
  const runtime = String((await daemon.waitForLog((l) => l.message === 'starting', 'starting line')).runtimeDir);
  if (existsSync('/dev/shm')) assert.ok(runtime.startsWith('/dev/shm/git-autosync-'), runtime);
  assert.equal(statSync(runtime).mode & 0o777, 0o700);
  const tokenDirs = readdirSync(runtime).filter((n) => n.startsWith('github-app-'));
  assert.equal(tokenDirs.length, 1, 'one installation, one token folder');
  assert.equal(statSync(join(runtime, tokenDirs[0]!, 'password')).mode & 0o777, 0o600);
  assertNoTokenInOutput(daemon, s.api.issued);
  assert.equal(await daemon.stop(), 0);
  assert.ok(!existsSync(runtime), 'the runtime folder is removed at shutdown');
});

test('a token that expires mid-run is refreshed before it expires and the entry keeps publishing', async (t) => {
  // Scaled: under load a fetch took 6 s, longer than a 3 s token lives, and got a 401.
  const ttlMs = scaled(3_000);
  const s = await setup(t, { tokenTtlMs: ttlMs });
  await writeFile(s.listing, JSON.stringify([s.entry('site')]));
  const daemon = startDaemon(t, env(s.listing));
  await daemon.waitForLog(published('site', s.heads.get('site')!), 'site published', 60_000);
  const started = Date.now();
  // Pushes spread over several token lives: each is published.
  for (let i = 0; i < 4; i++) {
    const head = await s.repos.get('site')!.commit({ 'name.txt': `site ${i}\n` });
    await daemon.waitForLog(published('site', head), `push ${i} published`, 60_000);
    const minted = s.api.minted();
    await waitFor(() => s.api.minted() > minted, { timeoutMs: 30_000 + ttlMs, message: 'a new token is minted as the old one ages' });
  }
  const elapsedS = (Date.now() - started) / 1000;
  // Polls run every 200 ms: tokens are minted per life (about 2 s for a 3 s TTL), not per poll.
  assert.ok(s.api.minted() <= elapsedS / ((1.5 * ttlMs) / 3_000) + 2, `${s.api.minted()} tokens in ${elapsedS.toFixed(1)} s`);
  assert.deepEqual(authFailures(daemon), [], 'no sync failed for an expired token');
  assertNoTokenInOutput(daemon, s.api.issued);
});

test('a key rotated in its file is used for the next token', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([s.entry('site')]));
  const daemon = startDaemon(t, env(s.listing));
  await daemon.waitForLog(published('site', s.heads.get('site')!), 'site published', 60_000);
  // The app's key is replaced (the old one deleted on GitHub) and the Secret updated.
  const rotated: AppKey = newAppKey();
  s.api.keys = [rotated];
  await writeFile(s.keyFile, rotated.privatePem);
  s.api.revokeAll();
  const head = await s.repos.get('site')!.commit({ 'name.txt': 'after rotation\n' });
  await daemon.waitForLog(published('site', head), 'published with a token signed by the new key', 60_000);
  const last = s.api.requests.at(-1)!;
  assert.equal(last.ok, true);
  assert.equal(last.keyIndex, 0, 'the JWT was signed with the rotated key');
  assert.equal(s.api.minted(), 2);
  assert.ok(s.api.requests.every((r) => r.ok), 'no request was signed with the deleted key');
});

test('a wrong installation id fails with an auth error naming githubApp.installationId', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([s.entry('site', 999)]));
  const daemon = startDaemon(t, env(s.listing));
  const failure = await daemon.waitForLog((l) => l.message === 'sync failed' && l.repo === 'site', 'sync failed', 60_000);
  assert.equal(failure.kind, 'auth');
  assert.match(String(failure.error), /^"githubApp\.installationId" 999: the GitHub API knows no installation 999 of this app \(404/);
  const base = await daemon.httpUrl();
  const status = await waitFor(async () => {
    const body = (await (await fetch(`${base}/status/site`)).json()) as { lastError: { kind: string; message: string } | null };
    return body.lastError !== null && body;
  });
  assert.equal(status.lastError!.kind, 'auth');
  assert.match(status.lastError!.message, /"githubApp\.installationId" 999/);
  assert.equal(publishedCommit(join(s.root, 'data', 'site')), null);
  assert.equal(s.git.requests, 0, 'git was never run without a token');
});

test('one-time mode mints a token for its init-container run and leaves no token behind', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, JSON.stringify([s.entry('site')]));
  const daemon = startDaemon(t, { ...env(s.listing), ONE_TIME: 'true' });
  assert.equal(await daemon.exited, 0, daemon.output().slice(-2000));
  assert.equal(publishedCommit(join(s.root, 'data', 'site')), s.heads.get('site'));
  assert.equal(s.api.minted(), 1);
  assertNoTokenInOutput(daemon, s.api.issued);
  // Other tests' daemons may have runtime folders now: only one holding this run's token would be ours.
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  for (const dir of readdirSync(base).filter((n) => n.startsWith('git-autosync-')).map((n) => join(base, n))) {
    // Another daemon's folder may go while we look: unreadable counts as not ours.
    const read = (f: () => string[] | string) => {
      try {
        return f();
      } catch {
        return [];
      }
    };
    for (const sub of (read(() => readdirSync(dir)) as string[]).filter((n) => n.startsWith('github-app-'))) {
      const token = String(read(() => readFileSync(join(dir, sub, 'password'), 'utf8'))).trim();
      assert.ok(!s.api.issued.includes(token), `${dir} still holds this run's token`);
    }
  }
});
