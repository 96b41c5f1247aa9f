// A FIFO swapped in for the listing used to block the supervisor in open() forever: later
// listings were never read and SIGTERM never finished (#12, item 5).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { publishedCommit } from '../support/published.js';
import { makeTempDir } from '../support/tmp.js';

const published = (name: string) => (l: LogLine) => l.message === 'published' && l.repo === name;
const rejectedAsNotAFile = (l: LogLine) => l.message.startsWith('listing rejected') && /is not a regular file/.test(String(l.error));

test('a FIFO (or a symlink to one) as the listing is refused at once; the last good listing runs, the next regular one applies, SIGTERM exits', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const site = await RemoteRepo.create(serveRoot, 'site');
  const head = await site.commit({ 'v.txt': '1\n' });
  const git = await startGitDaemon(t, serveRoot);
  const listing = join(root, 'listing.json');
  const entry = (name: string) => ({ path: join(root, 'data', name), repo: git.url('site'), branch: 'main' });
  await writeFile(listing, JSON.stringify([entry('one')]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' });
  await daemon.waitForLog(published('one'), 'first listing applied');

  const fifo = join(root, 'swap.fifo');
  execFileSync('mkfifo', [fifo]);
  await rename(fifo, listing);
  await daemon.waitForLog(rejectedAsNotAFile, 'the FIFO is refused');

  // The next regular listing is read and applied.
  const next = join(root, 'next.json');
  await writeFile(next, JSON.stringify([entry('one'), entry('two')]));
  await rename(next, listing);
  await daemon.waitForLog(published('two'), 'the next regular listing applies');
  assert.equal(publishedCommit(join(root, 'data', 'one')), head, 'the first entry kept running');

  // A symlink to a FIFO, then shutdown: it must finish.
  const fifo2 = join(root, 'other.fifo');
  execFileSync('mkfifo', [fifo2]);
  const link = join(root, 'link.json');
  await symlink(fifo2, link);
  await rename(link, listing);
  const refusals = daemon.lines.filter(rejectedAsNotAFile).length;
  await daemon.waitForLog((l) => rejectedAsNotAFile(l) && daemon.lines.filter(rejectedAsNotAFile).length > refusals, 'the symlinked FIFO is refused');
  assert.equal(await daemon.stop('SIGTERM'), 0, 'SIGTERM exits 0');
});
