import assert from 'node:assert/strict';
import { existsSync, readlinkSync, statSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { startSshd } from '../support/sshd.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

async function setup(t: Parameters<typeof makeTempDir>[0]) {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const remote = await RemoteRepo.create(serveRoot, 'site');
  const sha = await remote.commit({ 'index.html': 'hello\n', 'conf/app.yaml': 'a: 1\n' });
  return { root, serveRoot, remote, sha, path: join(root, 'data', 'site') };
}

test('first sync over git:// publishes the branch as a relative symlink named after the commit', async (t) => {
  const { serveRoot, sha, path } = await setup(t);
  const daemon = await startGitDaemon(t, serveRoot);
  const agent = await startAgent(t, { path, repo: daemon.url('site'), branch: 'main' });
  const synced = await agent.waitForMessage('synced');
  assert.equal(synced.commit, sha);
  assert.equal(readlinkSync(path), `.site.git-autosync/worktrees/${sha}`);
  assert.equal(publishedCommit(path), sha);
  assert.equal(readPublishedFile(path, 'conf/app.yaml'), 'a: 1\n');
});

test('first sync over smart HTTP uses basic auth from files, and the secret appears in no output', async (t) => {
  const { root, serveRoot, sha, path } = await setup(t);
  const http = await startHttpGitServer(t, serveRoot);
  const usernameFile = join(root, 'username');
  const passwordFile = join(root, 'password');
  await writeFile(usernameFile, `${http.username}\n`);
  await writeFile(passwordFile, `${http.password}\n`);
  const agent = await startAgent(t, { path, repo: http.url('site'), branch: 'main', usernameFile, passwordFile });
  const synced = await agent.waitForMessage('synced');
  assert.equal(synced.commit, sha);
  assert.equal(readPublishedFile(path, 'index.html'), 'hello\n');
  await agent.stop();
  assert.ok(!agent.output().includes(http.password), 'password leaked into output');
  assert.ok(!JSON.stringify(agent.messages).includes(http.password), 'password leaked into messages');
});

test('a wrong http password fails as an auth error, the secret in no output, and a rotated file fixes it without restart', async (t) => {
  const { root, serveRoot, sha, path } = await setup(t);
  const http = await startHttpGitServer(t, serveRoot);
  const usernameFile = join(root, 'username');
  const passwordFile = join(root, 'password');
  const wrong = 'wrong-password-4711';
  await writeFile(usernameFile, http.username);
  await writeFile(passwordFile, wrong);
  const agent = await startAgent(t, { path, repo: http.url('site'), branch: 'main', usernameFile, passwordFile });
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'auth');
  assert.match(failed.error.message, /Authentication failed|401|could not read/i);
  assert.equal(publishedCommit(path), null);
  // Rotate the mounted secret: the next retry reads it.
  await writeFile(passwordFile, http.password);
  const synced = await agent.waitForMessage('synced', undefined, 30_000);
  assert.equal(synced.commit, sha);
  await agent.stop();
  for (const secret of [wrong, http.password]) {
    assert.ok(!agent.output().includes(secret), `secret ${secret} leaked into output`);
    assert.ok(!JSON.stringify(agent.messages).includes(secret), `secret ${secret} leaked into messages`);
  }
});

test('first sync over ssh uses the key file and checks the host key strictly', async (t) => {
  const { root, serveRoot, sha, path } = await setup(t);
  const sshd = await startSshd(t, serveRoot);
  const agent = await startAgent(t, { path, repo: sshd.url('site'), branch: 'main', sshKeyFile: sshd.clientKeyPath, knownHostsFile: sshd.knownHostsPath });
  const synced = await agent.waitForMessage('synced');
  assert.equal(synced.commit, sha);
  assert.equal(readPublishedFile(path, 'index.html'), 'hello\n');
  // The private key copy is written once, not on every poll.
  const keyCopy = join(stateDirOf(path), 'secrets', 'ssh-key');
  assert.equal((statSync(keyCopy).mode & 0o777).toString(8), '600');
  const keyMtime = statSync(keyCopy).mtimeMs;
  const from = agent.messages.length;
  await waitFor(() => agent.messages.slice(from).filter((m) => m.type === 'unchanged').length >= 2, { message: 'two unchanged polls over ssh' });
  assert.equal(statSync(keyCopy).mtimeMs, keyMtime);

  // The same server with a known_hosts that does not list it: refused, nothing published.
  const otherPath = join(root, 'data', 'other');
  const emptyKnownHosts = join(root, 'known_hosts_empty');
  await writeFile(emptyKnownHosts, '');
  const strict = await startAgent(t, { path: otherPath, repo: sshd.url('site'), branch: 'main', sshKeyFile: sshd.clientKeyPath, knownHostsFile: emptyKnownHosts });
  const failed = await strict.waitForMessage('failed');
  assert.equal(failed.error.kind, 'auth');
  assert.match(failed.error.message, /Host key verification failed/);
  assert.equal(publishedCommit(otherPath), null);
});

test('a credentials file that is missing or a directory is a config error naming the field', async (t) => {
  const { root, serveRoot, path } = await setup(t);
  const sshd = await startSshd(t, serveRoot);
  const agent = await startAgent(t, { path, repo: sshd.url('site'), branch: 'main', sshKeyFile: join(root, 'nope'), knownHostsFile: sshd.knownHostsPath });
  const failed = await agent.waitForMessage('failed');
  assert.equal(failed.error.kind, 'config');
  assert.match(failed.error.message, /"sshKeyFile" .*nope: cannot be read \(ENOENT\)/);
  const dirAgent = await startAgent(t, { path: join(root, 'data', 'b'), repo: sshd.url('site'), branch: 'main', sshKeyFile: root, knownHostsFile: sshd.knownHostsPath });
  const failed2 = await dirAgent.waitForMessage('failed');
  assert.match(failed2.error.message, /"sshKeyFile" .*: is not a regular file/);
});

const nssWrapper = ['/usr/lib/x86_64-linux-gnu/libnss_wrapper.so', '/usr/lib/aarch64-linux-gnu/libnss_wrapper.so'].some((p) => existsSync(p));
const arbitraryUidSkip =
  process.getuid?.() !== 0 ? 'needs root to start an agent under another UID' : !nssWrapper ? 'needs libnss-wrapper (apt-get install libnss-wrapper)' : false;

test('ssh works under an arbitrary UID with no passwd entry (OpenShift), with a 0644 key file', { skip: arbitraryUidSkip }, async (t) => {
  const { root, serveRoot, sha } = await setup(t);
  const sshd = await startSshd(t, serveRoot);
  // What a Kubernetes secret mount looks like to the daemon: readable, but too open for ssh.
  await chmod(dirname(sshd.clientKeyPath), 0o755);
  await chmod(sshd.clientKeyPath, 0o644);
  await chmod(root, 0o777);
  const data = join(root, 'data');
  await mkdir(data, { mode: 0o777 });
  await chmod(data, 0o777);
  const path = join(data, 'site');
  const agent = await startAgent(
    t,
    { path, repo: sshd.url('site'), branch: 'main', sshKeyFile: sshd.clientKeyPath, knownHostsFile: sshd.knownHostsPath },
    { uid: 1000680000, gid: 0, env: { HOME: '/tmp' } },
  );
  const synced = await agent.waitForMessage('synced');
  assert.equal(synced.commit, sha);
  assert.equal(readPublishedFile(path, 'index.html'), 'hello\n');
  assert.equal(statSync(join(stateDirOf(path), 'repo.git')).uid, 1000680000);
});
