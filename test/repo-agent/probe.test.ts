import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { HttpProber, parsePktLines, pkt, probeGit } from '../../src/repo-agent/probe.js';
import { startAgent } from '../support/agent.js';
import { startBlackhole } from '../support/blackhole.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { git, RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

async function repoWithRefs(t: Parameters<typeof makeTempDir>[0]) {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'r');
  const main = await repo.commit({ 'a.txt': '1' });
  await repo.tag('v1', { annotated: true });
  await repo.switchBranch('main-old', { create: true });
  await repo.commit({ 'a.txt': 'old' });
  await repo.switchBranch('main');
  return { root, serveRoot, repo, main };
}

const lsRemote = async (url: string, patterns: string[], env: NodeJS.ProcessEnv = {}) =>
  new Map((await git('/', ['ls-remote', url, ...patterns], env)).split('\n').filter(Boolean).map((l) => l.split('\t').reverse() as [string, string]));

test('pkt-lines round-trip, flushes included', () => {
  const buf = Buffer.concat([pkt('version 2\n'), Buffer.from('0000'), pkt('x')]);
  assert.deepEqual(parsePktLines(buf), ['version 2\n', null, 'x']);
  assert.throws(() => parsePktLines(Buffer.from('00ffabc')), /truncated/);
});

test('the git:// probe answers what git ls-remote answers, peeled tags included', async (t) => {
  const { serveRoot, main } = await repoWithRefs(t);
  const daemon = await startGitDaemon(t, serveRoot);
  const patterns = ['refs/heads/main', 'refs/tags/v1', 'HEAD'];
  const result = await probeGit({ url: daemon.url('r'), prefixes: patterns, auth: null, timeoutMs: 5000 });
  assert.ok('refs' in result, JSON.stringify(result));
  const expected = await lsRemote(daemon.url('r'), ['refs/heads/main', 'refs/tags/v1', 'refs/tags/v1^{}', 'HEAD']);
  for (const [name, oid] of expected) assert.equal(result.refs.get(name), oid, name);
  assert.equal(result.refs.get('refs/heads/main'), main);
  assert.equal(result.refs.get('refs/tags/v1^{}'), main);
});

test('the http probe answers what git ls-remote answers, with basic auth; a wrong password is "unknown"', async (t) => {
  const { root, serveRoot, main } = await repoWithRefs(t);
  const http = await startHttpGitServer(t, serveRoot);
  const prober = new HttpProber(false);
  t.after(() => prober.close());
  const result = await prober.probe({ url: http.url('r'), prefixes: ['refs/heads/main', 'HEAD'], auth: { username: http.username, password: http.password, scope: `http://127.0.0.1:${http.port}/` }, timeoutMs: 5000 });
  assert.ok('refs' in result, JSON.stringify(result));
  assert.equal(result.refs.get('refs/heads/main'), main);
  assert.equal(result.refs.get('HEAD'), main);
  const wrong = await prober.probe({ url: http.url('r'), prefixes: ['refs/heads/main'], auth: { username: http.username, password: 'nope', scope: `http://127.0.0.1:${http.port}/` }, timeoutMs: 5000 });
  assert.deepEqual(wrong, { unknown: 'HTTP 401' });
  void root;
});

test('a hung remote makes the probe answer "unknown" within its timeout', async (t) => {
  const hole = await startBlackhole(t);
  const started = Date.now();
  const result = await probeGit({ url: `git://127.0.0.1:${hole.port}/x.git`, prefixes: ['HEAD'], auth: null, timeoutMs: 500 });
  assert.deepEqual(result, { unknown: 'timeout' });
  assert.ok(Date.now() - started < 3000);
});

test('unchanged polls over git:// and http spawn no git process at all', async (t) => {
  const { root, serveRoot, repo } = await repoWithRefs(t);
  const daemon = await startGitDaemon(t, serveRoot);
  const http = await startHttpGitServer(t, serveRoot);
  await writeFile(join(root, 'user'), http.username);
  await writeFile(join(root, 'pass'), http.password);
  // A git on PATH that counts its runs.
  const bin = join(root, 'countbin');
  const counter = join(root, 'git-runs');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'git'), `#!/bin/sh\necho "$*" >> '${counter}'\nexec /usr/bin/git "$@"\n`);
  await chmod(join(bin, 'git'), 0o755);
  const env = { PATH: `${bin}:${process.env.PATH}` };
  const runs = () => (existsSync(counter) ? readFileSync(counter, 'utf8').split('\n').filter(Boolean) : []);
  for (const [name, entry] of [
    ['via-http', { repo: http.url('r'), usernameFile: join(root, 'user'), passwordFile: join(root, 'pass') }],
    ['via-git', { repo: daemon.url('r') }],
  ] as const) {
    const head = await repo.remoteHead();
    const agent = await startAgent(t, { path: join(root, 'data', name), branch: 'main', ...entry }, { env });
    await agent.waitForMessage('synced', (m) => m.commit === head);
    const before = runs().length;
    const from = agent.messages.length;
    await waitFor(() => agent.messages.slice(from).filter((m) => m.type === 'unchanged').length >= 5, { message: 'five unchanged polls' });
    assert.equal(runs().length, before, `${name}: no git ran for unchanged polls: ${runs().slice(before).join(' | ')}`);
    const next = await repo.commit({ 'a.txt': `${name}\n` });
    await agent.waitForMessage('synced', (m) => m.commit === next);
    assert.ok(runs().length > before, 'a change is fetched by git');
    await agent.stop();
  }
});
