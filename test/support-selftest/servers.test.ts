// Proves the test servers and the remote-repo fixture do what the other tests rely on,
// using plain git as the client.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBlackhole } from '../support/blackhole.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { fixtureGitEnv, git, GitCommandError, RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { canConnect } from '../support/process.js';
import { sshCommandFor, startSshd } from '../support/sshd.js';
import { makeTempDir, scaled, waitFor } from '../support/tmp.js';

async function remoteWithOneCommit(t: { after(fn: () => unknown): void }) {
  const serveRoot = await makeTempDir(t, 'gas-serve-');
  const repo = await RemoteRepo.create(serveRoot, 'widgets');
  const sha = await repo.commit({ 'README.md': 'hello\n', 'src/a.txt': 'a\n' }, 'first');
  return { serveRoot, repo, sha };
}

/** Runs git and returns stderr too, for checks on what went over the wire. */
function gitWithStderr(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile('git', args, { cwd, env: { ...process.env, ...fixtureGitEnv, ...env } }, (error, stdout, stderr) =>
      error ? reject(Object.assign(error, { stderr })) : resolve({ stdout, stderr }),
    );
  });
}

/** The sha ls-remote reports for `ref`. */
function refFrom(lsRemote: string, ref: string): string | undefined {
  return lsRemote
    .split('\n')
    .map((line) => line.split('\t'))
    .find(([, name]) => name === ref)?.[0];
}

async function assertShallowCloneAt(
  t: { after(fn: () => unknown): void },
  url: string,
  sha: string,
  env?: NodeJS.ProcessEnv,
): Promise<void> {
  const dest = join(await makeTempDir(t, 'gas-clone-'), 'clone');
  await git('/', ['clone', '--quiet', '--depth', '1', url, dest], env);
  assert.equal(await git(dest, ['rev-parse', 'HEAD']), sha);
  assert.equal(await readFile(join(dest, 'README.md'), 'utf8'), 'hello\n');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('git daemon serves the bare repos under its root over git://', async (t) => {
  const { serveRoot, repo, sha } = await remoteWithOneCommit(t);
  const daemon = await startGitDaemon(t, serveRoot);

  const url = daemon.url('widgets');
  assert.equal(url, `git://127.0.0.1:${daemon.port}/widgets.git`);
  const refs = await git('/', ['ls-remote', url]);
  assert.equal(refFrom(refs, 'refs/heads/main'), sha);
  assert.equal(refFrom(refs, 'HEAD'), sha);
  await assertShallowCloneAt(t, url, sha);

  await assert.rejects(git('/', ['ls-remote', daemon.url('missing')]), /no such repository/);
  assert.equal(await repo.remoteHead(), sha);

  await daemon.stop();
  await daemon.stop(); // idempotent
  assert.equal(isAlive(daemon.pid), false);
  assert.equal(await canConnect(daemon.port), false);
});

test('a commit can be fetched by sha, and partial clones are allowed', async (t) => {
  const { serveRoot, repo, sha: first } = await remoteWithOneCommit(t);
  await repo.commit({ 'README.md': 'second\n' });
  const daemon = await startGitDaemon(t, serveRoot);
  const dest = join(await makeTempDir(t, 'gas-clone-'), 'clone');

  await git('/', ['init', '--quiet', dest]);
  await git(dest, ['fetch', '--quiet', '--depth', '1', daemon.url('widgets'), first]);
  assert.equal(await git(dest, ['rev-parse', 'FETCH_HEAD']), first);

  const partial = join(await makeTempDir(t, 'gas-clone-'), 'partial');
  await git('/', ['clone', '--quiet', '--filter=blob:none', daemon.url('widgets'), partial]);
  assert.equal(await git(partial, ['config', 'remote.origin.partialclonefilter']), 'blob:none');
});

test('the http server needs basic auth and speaks protocol v2', async (t) => {
  const { serveRoot, sha } = await remoteWithOneCommit(t);
  const server = await startHttpGitServer(t, serveRoot, { username: 'alice', password: 's3cret' });
  assert.equal(server.url('widgets'), `http://127.0.0.1:${server.port}/widgets.git`);
  assert.equal(server.pid, process.pid);

  const withCredentials = new URL(server.url('widgets'));
  withCredentials.username = server.username;
  withCredentials.password = server.password;

  const refs = await git('/', ['ls-remote', withCredentials.href]);
  assert.equal(refFrom(refs, 'refs/heads/main'), sha);
  await assertShallowCloneAt(t, withCredentials.href, sha);
  assert.ok(server.requests >= 4, `expected several requests, saw ${server.requests}`);

  const { stderr } = await gitWithStderr('/', ['-c', 'protocol.version=2', 'ls-remote', withCredentials.href], {
    GIT_TRACE_PACKET: '1',
  });
  assert.match(stderr, /< version 2/);

  // GIT_TERMINAL_PROMPT=0 (set by the fixtures) turns the 401 into a failure instead of a prompt.
  await assert.rejects(git('/', ['ls-remote', server.url('widgets')]), (error: GitCommandError) => {
    assert.match(error.stderr, /terminal prompts disabled|Authentication failed/);
    return true;
  });
  const wrongPassword = new URL(withCredentials);
  wrongPassword.password = 'nope';
  await assert.rejects(git('/', ['ls-remote', wrongPassword.href]), /Authentication failed/);

  await server.stop();
  await server.stop();
  assert.equal(await canConnect(server.port), false);
});

test('the http server takes chunked request bodies', async (t) => {
  const { serveRoot, repo } = await remoteWithOneCommit(t);
  const server = await startHttpGitServer(t, serveRoot);
  const url = new URL(server.url('widgets'));
  url.username = server.username;
  url.password = server.password;
  const dest = join(await makeTempDir(t, 'gas-clone-'), 'clone');
  await git('/', ['clone', '--quiet', url.href, dest]);

  // A pack bigger than http.postBuffer is sent with Transfer-Encoding: chunked and no
  // Content-Length; http-backend must then read the body to EOF. (The server allows
  // pushes because it sets REMOTE_USER; pushing is just the easy way to send a big body.)
  await writeFile(join(dest, 'big.bin'), randomBytes(256 * 1024));
  await git(dest, ['add', 'big.bin']);
  await git(dest, ['commit', '--quiet', '-m', 'big']);
  await git(dest, ['-c', 'http.postBuffer=4096', 'push', '--quiet', 'origin', 'HEAD:refs/heads/main']);
  assert.equal(await repo.remoteHead('refs/heads/main'), await git(dest, ['rev-parse', 'HEAD']));
});

test('sshd lets the generated key in and checks the host key strictly', async (t) => {
  const { serveRoot, sha } = await remoteWithOneCommit(t);
  const sshd = await startSshd(t, serveRoot);
  const url = sshd.url('widgets');
  assert.equal(url, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${serveRoot}/widgets.git`);

  const env = { GIT_SSH_COMMAND: sshCommandFor(sshd) };
  const refs = await git('/', ['ls-remote', url], env);
  assert.equal(refFrom(refs, 'refs/heads/main'), sha);
  await assertShallowCloneAt(t, url, sha, env);

  const { stderr } = await gitWithStderr('/', ['-c', 'protocol.version=2', 'ls-remote', url], {
    ...env,
    GIT_TRACE_PACKET: '1',
  });
  assert.match(stderr, /< version 2/, 'sshd should pass GIT_PROTOCOL through (AcceptEnv)');

  // A known_hosts entry with some other key for the same host:port must be refused.
  const otherDir = await makeTempDir(t, 'gas-known-');
  const otherKnownHosts = join(otherDir, 'known_hosts');
  const otherKey = join(otherDir, 'other');
  await new Promise<void>((resolve, reject) =>
    execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey], (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  const otherPub = (await readFile(`${otherKey}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
  await writeFile(otherKnownHosts, `[127.0.0.1]:${sshd.port} ${otherPub}\n`);
  await assert.rejects(
    git('/', ['ls-remote', url], { GIT_SSH_COMMAND: sshCommandFor(sshd, otherKnownHosts) }),
    /Host key verification failed/,
  );

  await sshd.stop();
  assert.equal(isAlive(sshd.pid), false);
  assert.equal(await canConnect(sshd.port), false);
});

test('a git client connecting to the blackhole hangs', async (t) => {
  const blackhole = await startBlackhole(t);
  const client = spawn('git', ['ls-remote', `git://127.0.0.1:${blackhole.port}/x`], {
    env: { ...process.env, ...fixtureGitEnv },
    stdio: 'ignore',
  });
  const exited = new Promise<string>((resolve) => client.once('exit', (code, signal) => resolve(`${code ?? signal}`)));
  t.after(() => {
    if (client.exitCode === null && client.signalCode === null) client.kill('SIGKILL');
  });

  await waitFor(() => blackhole.connections >= 1, { timeoutMs: 10_000, message: 'git connected to the blackhole' });
  // Bounded check: the client is connected and must still be waiting a second later.
  const outcome = await Promise.race([exited, delay(1000, 'still running')]);
  assert.equal(outcome, 'still running');

  client.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  await blackhole.stop();
  assert.equal(await canConnect(blackhole.port), false);
});

test('RemoteRepo: commits, deletions, branches and the default branch', async (t) => {
  const { repo, sha: first } = await remoteWithOneCommit(t);

  const second = await repo.commit({ 'src/a.txt': null, 'deep/new/file.txt': 'x' }, 'second');
  assert.notEqual(second, first);
  assert.equal(await repo.remoteHead(), second);
  const files = (await git(repo.bareDir, ['ls-tree', '-r', '--name-only', second])).split('\n');
  assert.deepEqual(files.sort(), ['README.md', 'deep/new/file.txt']);

  const many = await repo.commitMany(3, (i) => ({ 'count.txt': `${i}\n` }));
  assert.equal(many.length, 3);
  assert.equal(await repo.remoteHead(), many[2]);

  await repo.switchBranch('feature', { create: true, from: first });
  assert.equal(repo.currentBranch, 'feature');
  const feature = await repo.commit({ 'feature.txt': 'f' });
  assert.equal(await repo.remoteHead(), feature);
  assert.equal(await repo.remoteHead('refs/heads/main'), many[2]);
  assert.equal(await git(repo.bareDir, ['rev-parse', `${feature}~1`]), first);

  await repo.setDefaultBranch('feature');
  const symref = await git('/', ['ls-remote', '--symref', repo.bareDir, 'HEAD']);
  assert.match(symref, /^ref: refs\/heads\/feature\tHEAD/);

  await repo.switchBranch('main');
  assert.equal(await repo.commit({}), await repo.remoteHead('refs/heads/main'));

  await repo.deleteRemoteBranch('feature');
  await assert.rejects(repo.remoteHead('refs/heads/feature'), GitCommandError);
});

test('RemoteRepo: tags, moved tags and rewritten history', async (t) => {
  const serveRoot = await makeTempDir(t, 'gas-serve-');
  const repo = await RemoteRepo.create(serveRoot, 'nested/tools', { branch: 'trunk' });
  assert.equal(repo.bareDir, join(serveRoot, 'nested/tools.git'));
  assert.equal(await git(repo.bareDir, ['symbolic-ref', 'HEAD']), 'refs/heads/trunk');
  assert.equal(await git(repo.bareDir, ['config', 'uploadpack.allowAnySHA1InWant']), 'true');

  // Rewriting a branch with a single commit starts from an empty tree.
  const only = await repo.commit({ 'a.txt': 'a' });
  const orphan = await repo.rewriteHistory({ 'b.txt': 'b' });
  assert.equal(await repo.remoteHead(), orphan);
  assert.equal(await git(repo.bareDir, ['rev-list', '--count', orphan]), '1');
  assert.equal(await git(repo.bareDir, ['ls-tree', '--name-only', orphan]), 'b.txt');
  assert.ok(!(await git(repo.bareDir, ['rev-list', '--all'])).includes(only));

  const v1 = await repo.tag('v1');
  assert.equal(v1, orphan);
  assert.equal(await repo.remoteHead('refs/tags/v1'), orphan);

  const next = await repo.commit({ 'c.txt': 'c' });
  const annotated = await repo.tag('v2', { annotated: true });
  assert.equal(annotated, next);
  assert.equal(await git(repo.bareDir, ['cat-file', '-t', 'refs/tags/v2']), 'tag');

  const moved = await repo.tag('v1', { ref: next, force: true });
  assert.equal(moved, next);
  assert.equal(await repo.remoteHead('refs/tags/v1'), next);

  // The usual case: the tip is replaced by a sibling commit.
  const tip = await repo.commit({ 'd.txt': 'd' });
  const rewritten = await repo.rewriteHistory({ 'e.txt': 'e' }, 'instead of d');
  assert.equal(await repo.remoteHead(), rewritten);
  assert.equal(await git(repo.bareDir, ['rev-parse', `${rewritten}~1`]), next);
  assert.ok(!(await git(repo.bareDir, ['rev-list', '--all'])).includes(tip));
});

test('waitFor returns the first truthy value and reports the last failure on timeout', async () => {
  let calls = 0;
  assert.equal(await waitFor(() => (++calls >= 3 ? 'done' : undefined), { intervalMs: 1 }), 'done');

  await assert.rejects(
    waitFor(
      () => {
        throw new Error('not ready: 42');
      },
      { timeoutMs: 100, intervalMs: 10, message: 'the answer' },
    ),
    new RegExp(`the answer not met within ${scaled(100)} ms \\(slowdown [\\d.]+\\); last error: not ready: 42`),
  );
  await assert.rejects(waitFor(() => new Promise(() => undefined), { timeoutMs: 100 }), /still running/);
  // A message given as a function describes the state at the timeout, not at the start of the wait.
  let seen = 0;
  await assert.rejects(waitFor(() => (seen++, false), { timeoutMs: 100, intervalMs: 10, message: () => `after ${seen} checks` }), (err: Error) => {
    const n = Number(/after (\d+) checks/.exec(err.message)?.[1]);
    return n > 1 && n === seen;
  });
});
