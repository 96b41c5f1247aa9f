// Issue #13: anyone who can push to a synced repository must not be able to make the agent hand
// the entry's password to another origin, through a submodule URL or an HTTP redirect. The
// second server records every Authorization header it is sent (servers: test/support/cross-origin.ts).

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent, type RunningAgent } from '../support/agent.js';
import { basicAuth as basic, credentialFiles, crossOriginSubmodule } from '../support/cross-origin.js';
import { RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { publishedCommit, readPublishedFile } from '../support/published.js';
import { makeTempDir } from '../support/tmp.js';

function assertNoLeak(agent: RunningAgent, secrets: string[]) {
  for (const secret of secrets) {
    assert.ok(!agent.output().includes(secret), `${secret} leaked into output`);
    assert.ok(!JSON.stringify(agent.messages).includes(secret), `${secret} leaked into messages`);
  }
}

test('a submodule on another origin is sent no credentials and fails as an auth error', async (t) => {
  const { root, a, b, path } = await crossOriginSubmodule(t);
  const creds = await credentialFiles(root, 'a', a);
  const agent = await startAgent(t, { path, repo: a.url('app'), branch: 'main', ...creds });
  const failed = await agent.waitForMessage('failed', undefined, 60_000);
  assert.equal(failed.error.kind, 'auth', failed.error.message);
  assert.match(failed.error.message, /127\.0\.0\.1:\d+|Username/);
  await agent.stop();
  assert.ok(b.requests > 0, 'the submodule was never asked for');
  assert.deepEqual(b.authorizations, [], 'origin B was sent an Authorization header');
  assertNoLeak(agent, [a.password, b.password]);
});

test('a submodule on another origin works once a credential is configured for that origin, and gets only its own', async (t) => {
  const { root, a, b, head, path } = await crossOriginSubmodule(t);
  const credsA = await credentialFiles(root, 'a', a);
  const credsB = await credentialFiles(root, 'b', b);
  const agent = await startAgent(t, {
    path,
    repo: a.url('app'),
    branch: 'main',
    ...credsA,
    credentials: [{ url: `http://127.0.0.1:${b.port}/`, ...credsB }],
  });
  await agent.waitForMessage('synced', (m) => m.commit === head, 60_000);
  assert.equal(readPublishedFile(path, 'lib/lib.txt'), 'lib from b\n');
  await agent.stop();
  assert.ok(b.authorizations.length > 0);
  assert.ok(b.authorizations.every((h) => h === basic(b)), 'origin B was sent something other than its own credential');
  assert.ok(a.authorizations.every((h) => h === basic(a)), 'origin A was sent something other than its own credential');
  assertNoLeak(agent, [a.password, b.password]);
});

test('the most specific scope wins: a credential for a path prefix beats one for the whole origin', async (t) => {
  const { root, a, b, head, path } = await crossOriginSubmodule(t, 'team/lib');
  const credsA = await credentialFiles(root, 'a', a);
  const credsB = await credentialFiles(root, 'b', b);
  const wrong = { usernameFile: join(root, 'wrong-user'), passwordFile: join(root, 'wrong-pass') };
  await writeFile(wrong.usernameFile, 'someone\n');
  await writeFile(wrong.passwordFile, 'not-the-password\n');
  const agent = await startAgent(t, {
    path,
    repo: a.url('app'),
    branch: 'main',
    ...credsA,
    // The whole-origin one first, so order alone would pick it.
    credentials: [
      { url: `http://127.0.0.1:${b.port}`, ...wrong },
      { url: `http://127.0.0.1:${b.port}/team`, ...credsB },
    ],
  });
  await agent.waitForMessage('synced', (m) => m.commit === head, 60_000);
  assert.equal(readPublishedFile(path, 'lib/lib.txt'), 'lib from b\n');
  await agent.stop();
  assert.ok(b.authorizations.every((h) => h === basic(b)), `origin B got ${JSON.stringify(b.authorizations)}`);
});

for (const afterAuth of [false, true]) {
  test(`a redirect to another origin${afterAuth ? ' (after the credentials were accepted)' : ''} is sent no credentials`, async (t) => {
    const root = await makeTempDir(t);
    const rootA = join(root, 'a');
    const rootB = join(root, 'b');
    const remoteB = await RemoteRepo.create(rootB, 'site');
    await remoteB.commit({ 'index.html': 'b\n' });
    await RemoteRepo.create(rootA, 'site').then((r) => r.commit({ 'index.html': 'a\n' }));
    const b = await startHttpGitServer(t, rootB, { username: 'b-user', password: 'pw-origin-b-5678' });
    const a = await startHttpGitServer(t, rootA, { password: 'pw-origin-a-1234', redirect: { to: `http://127.0.0.1:${b.port}`, afterAuth } });
    const creds = await credentialFiles(root, 'a', a);
    const path = join(root, 'data', 'site');
    // No gitConfig: the in-process probe runs too (http.* settings would leave the check to git).
    const agent = await startAgent(t, { path, repo: a.url('site'), branch: 'main', ...creds });
    const failed = await agent.waitForMessage('failed', undefined, 60_000);
    assert.equal(failed.error.kind, 'auth', failed.error.message);
    await agent.stop();
    assert.ok(b.requests > 0, 'the redirect was never followed');
    assert.deepEqual(b.authorizations, [], 'origin B was sent an Authorization header');
    assert.equal(publishedCommit(path), null);
    assertNoLeak(agent, [a.password]);
  });
}

test('a redirect within the origin (a renamed project) is followed with the entry\'s credentials', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const remote = await RemoteRepo.create(serveRoot, 'renamed');
  const sha = await remote.commit({ 'index.html': 'moved\n' });
  const target = await startHttpGitServer(t, serveRoot, { password: 'pw-same-origin-42', rename: { from: 'old.git', to: 'renamed.git' } });
  const creds = await credentialFiles(root, 'a', target);
  const path = join(root, 'data', 'site');
  const agent = await startAgent(t, { path, repo: target.url('old'), branch: 'main', ...creds });
  await agent.waitForMessage('synced', (m) => m.commit === sha, 60_000);
  await agent.stop();
  assert.ok(target.authorizations.length > 0 && target.authorizations.every((h) => h === basic(target)));
});

test('a server that echoes the Basic header back in its error line shows no base64 credential', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  await RemoteRepo.create(serveRoot, 'site').then((r) => r.commit({ 'index.html': 'x\n' }));
  const http = await startHttpGitServer(t, serveRoot, { password: 'pw-echoed-9876', echoAuthInError: true });
  const creds = await credentialFiles(root, 'a', http);
  const path = join(root, 'data', 'site');
  const agent = await startAgent(t, { path, repo: http.url('site'), branch: 'main', ...creds });
  const failed = await agent.waitForMessage('failed', undefined, 60_000);
  await agent.stop();
  assert.match(failed.error.message, /access denied for Basic/, 'the echoed line should reach the error (redacted)');
  const encoded = basic(http).slice('Basic '.length);
  assertNoLeak(agent, [http.password, encoded]);
});
