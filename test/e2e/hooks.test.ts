import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { publishedCommit, worktreesOnDisk } from '../support/published.js';
import { serveRepos } from '../support/served-repos.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

async function setup(t: Parameters<typeof makeTempDir>[0], extra: Record<string, unknown>) {
  const s = await serveRepos(t, { site: { 'config.txt': 'good 1\n' } });
  const path = join(s.data, 'site');
  await writeFile(s.listing, JSON.stringify([{ path, repo: s.git.url('site'), branch: 'main', ...extra }]));
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200' });
  const base = await daemon.httpUrl();
  return { root: s.root, site: s.repos.site, first: s.heads.site, git: s.git, path, daemon, base };
}

const published = (commit: string) => (l: LogLine) => l.message === 'published' && l.commit === commit;
const status = async (base: string) => (await (await fetch(`${base}/status/site`)).json()) as Record<string, unknown>;
const metrics = async (base: string) => parseMetrics(await (await fetch(`${base}/metrics`)).text());

test('the out-webhook is called after each publish with the right body, and retried when it fails', async (t) => {
  const received: Array<{ method: string; body: unknown }> = [];
  let failFirst = true;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ method: req.method ?? '', body: JSON.parse(body) });
      res.writeHead(failFirst ? 500 : 204).end();
      failFirst = false;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const s = await setup(t, { webhook: { url, timeoutMs: 2000 } });
  await s.daemon.waitForLog(published(s.first), 'first publish');
  await waitFor(() => received.length >= 2, { message: 'webhook retried after a 500' });
  assert.deepEqual(received[1], {
    method: 'POST',
    body: { name: 'site', repo: s.git.url('site'), ref: 'main', commit: s.first, path: s.path },
  });
  const second = await s.site.commit({ 'config.txt': 'good 2\n' });
  await waitFor(() => received.some((r) => (r.body as { commit: string }).commit === second), { message: 'webhook for the second publish' });
  await waitFor(async () => ((await status(s.base)).hooks as Record<string, { ok: boolean }>).webhook?.ok === true, { message: 'webhook ok in status' });
});

test('the exec hook runs in the new tree with its environment; a failing hook shows in /status and metrics and the tree stays', async (t) => {
  const root = await makeTempDir(t);
  const out = join(root, 'hook-out');
  const s = await setup(t, {
    execHook: { command: ['sh', '-c', `{ pwd -P; echo "$GIT_AUTOSYNC_COMMIT $GIT_AUTOSYNC_NAME $GIT_AUTOSYNC_PATH"; cat config.txt; } > '${out}'; grep -q good config.txt`] },
  });
  await s.daemon.waitForLog(published(s.first), 'first publish');
  await waitFor(() => readFileSync(out, 'utf8').includes('good 1'), { message: 'hook ran' });
  const [cwd, envLine, content] = readFileSync(out, 'utf8').split('\n');
  assert.equal(cwd, join(s.path, '..', '.site.git-autosync', 'worktrees', s.first), 'runs in the published tree');
  assert.equal(envLine, `${s.first} site ${s.path}`);
  assert.equal(content, 'good 1');

  const bad = await s.site.commit({ 'config.txt': 'bad\n' });
  await s.daemon.waitForLog(published(bad), 'bad commit published (an exec hook does not veto)');
  const st = await waitFor(async () => {
    const x = await status(s.base);
    const exec = (x.hooks as Record<string, { ok: boolean; commit: string; message: string }>).exec;
    return exec?.commit === bad && exec;
  }, { message: 'exec hook result in status' });
  assert.equal(st.ok, false);
  assert.match(st.message, /exited with 1/);
  assert.equal(sampleValue(await metrics(s.base), 'git_autosync_hook_runs_total', { repo: 'site', hook: 'exec', result: 'failure' }), 1);
  assert.equal(publishedCommit(s.path), bad, 'the published tree stays');
});

test('a vetoing pre-publish hook keeps the previous commit published, is not retried, and a later good commit goes through', async (t) => {
  const s = await setup(t, { prePublishHook: { command: ['sh', '-c', '! grep -q broken config.txt'] } });
  await s.daemon.waitForLog(published(s.first), 'first publish');
  const broken = await s.site.commit({ 'config.txt': 'broken\n' });
  const st = await waitFor(async () => {
    const x = await status(s.base);
    // The agent reports the hook's veto, then the failed sync: under load a status can fall between.
    return x.vetoedCommit === broken && x.lastError !== null && x;
  }, { message: 'veto in status' });
  assert.equal((st.lastError as { kind: string }).kind, 'vetoed');
  assert.equal(publishedCommit(s.path), s.first, 'the previous tree stays published');
  // Several polls later the hook has still run once for that commit.
  const polls = async () => sampleValue(await metrics(s.base), 'git_autosync_sync_total', { repo: 'site', result: 'unchanged' }) ?? 0;
  const before = await polls();
  await waitFor(async () => (await polls()) >= before + 3, { message: 'three more polls' });
  assert.equal(sampleValue(await metrics(s.base), 'git_autosync_hook_runs_total', { repo: 'site', hook: 'pre-publish', result: 'failure' }), 1);
  assert.equal(publishedCommit(s.path), s.first);
  await waitFor(() => !worktreesOnDisk(s.path).includes(broken), { message: 'vetoed tree removed' });

  const fixed = await s.site.commit({ 'config.txt': 'good 2\n' });
  await s.daemon.waitForLog(published(fixed), 'good commit published');
  assert.equal((await status(s.base)).vetoedCommit, null);
});

test('the touch file is touched after each publish', async (t) => {
  const root = await makeTempDir(t);
  const touchFile = join(root, 'reload-me');
  const s = await setup(t, { touchFile });
  await s.daemon.waitForLog(published(s.first), 'first publish');
  await waitFor(() => statSync(touchFile, { throwIfNoEntry: false }), { message: 'touch file created' });
  const before = statSync(touchFile).mtimeMs;
  const second = await s.site.commit({ 'config.txt': 'good 2\n' });
  await s.daemon.waitForLog(published(second), 'second publish');
  await waitFor(() => statSync(touchFile).mtimeMs > before, { message: 'touch file touched again' });
});
