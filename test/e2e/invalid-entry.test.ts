// An entry that becomes invalid is not a removed entry (#12, item 1): with PRUNE=true a typo in a
// publishing entry used to stop its agent and delete its tree and state.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { getJson } from '../support/http-client.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

const published = (name: string, commit: string) => (l: LogLine) => l.message === 'published' && l.repo === name && l.commit === commit;

test('a typo in a publishing entry keeps it running on its last good definition, shown as invalid, never pruned', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const site = await RemoteRepo.create(serveRoot, 'site');
  const first = await site.commit({ 'v.txt': 'one\n' });
  const git = await startGitDaemon(t, serveRoot);
  const listing = join(root, 'listing.json');
  const path = join(root, 'data', 'site');
  const good = { path, repo: git.url('site'), branch: 'main' };
  await writeFile(listing, JSON.stringify([good]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200', PRUNE: 'true' });
  await daemon.waitForLog(published('site', first), 'first publish');
  const base = await daemon.httpUrl();

  // The typo: "branch" spelled "brnach". Before the fix the entry was stopped and pruned.
  await writeFile(listing, JSON.stringify([{ path, repo: git.url('site'), brnach: 'main' }]));
  const line = await daemon.waitForLog((l) => l.message.startsWith('invalid listing entry'), 'refusal logged');
  assert.match(String(line.error), /unknown field "brnach"/);
  assert.equal(line.message, 'invalid listing entry; its last good definition keeps running');
  const status = await waitFor(async () => {
    const r = await getJson(`${base}/status/site`);
    return r.status === 200 && r.body.invalid !== null ? r.body : null;
  }, { message: '/status/site shows the entry as invalid' });
  assert.match(String((status.invalid as { message: string }).message), /brnach/);
  const ready = await getJson(`${base}/readyz/site`);
  assert.equal(ready.status, 200, 'it still serves its last good tree');
  assert.match(String((ready.body.invalid as { message: string }).message), /brnach/);
  assert.equal(publishedCommit(path), first);
  assert.ok(existsSync(stateDirOf(path)), 'its state is kept');

  // Still syncing on the last good definition.
  const second = await site.commit({ 'v.txt': 'two\n' });
  await daemon.waitForLog(published('site', second), 'a push is still published');
  assert.equal(readPublishedFile(path, 'v.txt'), 'two\n');
  assert.equal(daemon.lines.filter((l) => l.message.startsWith('invalid listing entry')).length, 1, 'logged once');
  assert.ok(!daemon.lines.some((l) => l.message === 'pruned removed entry'), 'nothing pruned');

  // Fixed: the mark goes. Removed from a valid listing: only then stopped and pruned.
  await writeFile(listing, JSON.stringify([good]));
  await waitFor(async () => ((await getJson(`${base}/status/site`)).body.invalid === null ? true : null), { message: 'invalid mark cleared' });
  await writeFile(listing, JSON.stringify([]));
  await daemon.waitForLog((l) => l.message === 'pruned removed entry' && l.repo === 'site', 'pruned once removed');
  assert.ok(!existsSync(path));
});

test('an entry that was never valid is listed as invalid in /status and /readyz/{name}, and holds no readiness back', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const site = await RemoteRepo.create(serveRoot, 'site');
  const head = await site.commit({ 'v.txt': 'one\n' });
  const git = await startGitDaemon(t, serveRoot);
  const listing = join(root, 'listing.json');
  await writeFile(
    listing,
    JSON.stringify([
      { path: join(root, 'data', 'site'), repo: git.url('site'), branch: 'main' },
      { path: join(root, 'data', 'docs'), repo: git.url('site'), branch: 'main', interval: '2000' },
    ]),
  );
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' });
  await daemon.waitForLog(published('site', head), 'the valid entry publishes');
  const base = await daemon.httpUrl();
  const docs = await getJson(`${base}/status/docs`);
  assert.equal(docs.status, 200);
  assert.equal(docs.body.state, 'invalid');
  assert.match(String((docs.body.invalid as { message: string }).message), /"interval"/);
  const ready = await getJson(`${base}/readyz/docs`);
  assert.equal(ready.status, 503);
  assert.match(String(ready.body.reason), /^invalid listing entry: /);
  await waitFor(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : null), { message: '/readyz is 200: the refused entry holds nothing back' });
  assert.ok(!existsSync(join(root, 'data', 'docs')));
});
