// The supervisor loop (src/supervisor/main.ts) as an operator meets it: the real daemon, and the
// lines it logs when the listing, a shared store or a signal makes it act.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

async function setup(t: Parameters<typeof makeTempDir>[0]) {
  const root = await makeTempDir(t);
  const remote = await RemoteRepo.create(join(root, 'remotes'), 'site');
  const head = await remote.commit({ 'a.txt': 'a\n' });
  await remote.switchBranch('dev', { create: true });
  const dev = await remote.commit({ 'a.txt': 'dev\n' });
  await remote.switchBranch('main');
  return { root, remote, head, dev, data: join(root, 'data'), listing: join(root, 'listing.json') };
}

const env = (listing: string) => ({ LISTING_PATH: listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200' });
const published = (name: string) => (l: LogLine) => l.message === 'published' && l.repo === name;

test('a broken listing at start-up says nothing runs yet; later a broken listing keeps the last good one', async (t) => {
  const s = await setup(t);
  await writeFile(s.listing, '[{"path": ');
  const daemon = startDaemon(t, env(s.listing));
  const first = await daemon.waitForLog((l) => l.message.startsWith('listing rejected'), 'start-up listing rejected');
  assert.equal(first.message, 'listing rejected; nothing is running, waiting for a valid listing');
  assert.equal(first.level, 'error');
  assert.match(String(first.error), /not valid JSON/);

  await writeFile(s.listing, JSON.stringify([{ path: join(s.data, 'main'), repo: s.remote.bareDir, branch: 'main' }]));
  await daemon.waitForLog(published('main'), 'main published once the listing is valid');
  await writeFile(s.listing, '[{"path": ');
  await daemon.waitForLog((l) => l.message === 'listing rejected; keeping the last good one running', 'later rejection keeps the last good listing');
  assert.equal(daemon.lines.filter((l) => l.message === 'listing rejected; nothing is running, waiting for a valid listing').length, 1);
});

test('SIGHUP syncs every entry now and says so once, at info', async (t) => {
  const s = await setup(t);
  await writeFile(
    s.listing,
    JSON.stringify(['main', 'dev'].map((b) => ({ path: join(s.data, b), repo: s.remote.bareDir, branch: b, interval: 3_600_000 }))),
  );
  const daemon = startDaemon(t, env(s.listing));
  await daemon.waitForLog(published('main'), 'main published');
  await daemon.waitForLog(published('dev'), 'dev published');
  daemon.child.kill('SIGHUP');
  const line = await daemon.waitForLog((l) => l.message === 'sync requested by signal', 'signal-triggered sync logged');
  assert.equal(line.level, 'info');
  assert.equal(line.signal, 'SIGHUP');
  assert.equal(line.repos, 2);
  // The agents do sync: with an hour's interval only the signal explains a second poll.
  await waitFor(() => ['main', 'dev'].every((r) => daemon.lines.some((l) => l.message === 'unchanged' && l.repo === r)) || undefined, {
    timeoutMs: 30_000,
    message: `both entries polled after SIGHUP; output:\n${daemon.output().slice(-3000)}`,
  });
  assert.equal(daemon.lines.filter((l) => l.message === 'sync requested by signal').length, 1);
});

test('an entry restarted because another joins its shared store says why; a real edit says "entry changed"', async (t) => {
  const s = await setup(t);
  const main = { path: join(s.data, 'main'), repo: s.remote.bareDir, branch: 'main' };
  await writeFile(s.listing, JSON.stringify([main]));
  const daemon = startDaemon(t, env(s.listing));
  await daemon.waitForLog(published('main'), 'main published');

  await writeFile(s.listing, JSON.stringify([main, { path: join(s.data, 'dev'), repo: s.remote.bareDir, branch: 'dev' }]));
  const joined = await daemon.waitForLog((l) => l.repo === 'main' && String(l.message).includes('agent restarted'), 'main restarted into the store');
  assert.equal(joined.message, 'shared store changed; agent restarted');
  assert.equal(joined.reason, 'shared store joined by dev');
  await daemon.waitForLog(published('dev'), 'dev published');
  assert.equal(daemon.lines.filter((l) => l.message === 'entry changed; agent restarted').length, 0, 'nobody edited main');

  await writeFile(s.listing, JSON.stringify([{ ...main, interval: 5_000 }, { path: join(s.data, 'dev'), repo: s.remote.bareDir, branch: 'dev' }]));
  const edited = await daemon.waitForLog((l) => l.message === 'entry changed; agent restarted', 'the edited entry restarted');
  assert.equal(edited.repo, 'main');
});

test('entries are named 1-based, "entry #N", in refusals and their log lines', async (t) => {
  const s = await setup(t);
  await writeFile(
    s.listing,
    JSON.stringify([
      { path: join(s.data, 'main'), repo: s.remote.bareDir, branch: 'main' },
      { path: join(s.data, 'evil'), repo: s.remote.bareDir, branch: '-x' },
      { path: join(s.data, 'main'), repo: s.remote.bareDir, branch: 'dev', name: 'twin' },
    ]),
  );
  const daemon = startDaemon(t, env(s.listing));
  await daemon.waitForLog(published('main'), 'main published');
  const evil = await daemon.waitForLog((l) => l.message.startsWith('invalid listing entry') && String(l.error).includes('evil'), 'evil refused');
  assert.match(String(evil.error), /^listing entry #2 \("evil"\): "branch" must not start with "-"/);
  assert.equal(evil.entry, 2);
  const twin = await daemon.waitForLog((l) => l.message.startsWith('invalid listing entry') && String(l.error).includes('twin'), 'twin refused');
  assert.equal(twin.error, `listing entry #3 ("twin"): "path" ${join(s.data, 'main')} is already used by entry #1`);
  assert.equal(twin.entry, 3);
});
