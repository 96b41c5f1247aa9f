// What the listing says about a remote and a ref is what git is asked for: the real daemon
// against loopback git servers (#12 items 11 and 12).

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkRemoteUrl } from '../../src/shared/ref-and-url.js';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { rawRequest } from '../support/http-client.js';
import { publishedCommit, readPublishedFile } from '../support/published.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

const published = (name: string, commit: string) => (l: LogLine) => l.message === 'published' && l.repo === name && l.commit === commit;

/** The first outcome of `name`'s syncs: published `commit` (returned) or a failure (the test fails with its error). */
async function publishedOrFailed(daemon: ReturnType<typeof startDaemon>, name: string, commit: string, what: string): Promise<void> {
  const line = await daemon.waitForLog((l) => published(name, commit)(l) || (l.message === 'sync failed' && l.repo === name), what, 60_000);
  assert.equal(line.message, 'published', `${what}: ${JSON.stringify(line)}`);
}

test('a URL scheme is case-insensitive: the one check gives git the lower-case spelling', () => {
  for (const [url, normal] of [
    ['HTTP://h.example/a.git', 'http://h.example/a.git'],
    ['Https://h.example/a.git', 'https://h.example/a.git'],
    ['GIT+SSH://git@h.example/a.git', 'git+ssh://git@h.example/a.git'],
    ['FILE:///srv/A.git', 'file:///srv/A.git'],
    ['git@H.example:Org/A.git', 'git@H.example:Org/A.git'],
    ['/srv/A.git', '/srv/A.git'],
  ] as const) {
    const r = checkRemoteUrl(url);
    assert.ok(!('reason' in r), `${url}: ${'reason' in r ? r.reason : ''}`);
    assert.equal(r.url, normal, url);
  }
});

test('an entry with an upper-case scheme ("HTTP://…") is published from the smart-HTTP server, not failed as a refused transport', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const site = await RemoteRepo.create(serveRoot, 'site');
  const first = await site.commit({ 'a.txt': 'one\n' });
  const server = await startHttpGitServer(t, serveRoot, { authorize: () => true });
  const repo = server.url('site').replace(/^http:/, 'HTTP:');
  const listing = join(root, 'listing.json');
  const path = join(root, 'data', 'site');
  await writeFile(listing, JSON.stringify([{ path, repo, branch: 'main' }]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '300', STALE_AFTER: '200' });
  await publishedOrFailed(daemon, 'site', first, 'site published over HTTP://');
  assert.equal(publishedCommit(path), first);
  const second = await site.commit({ 'a.txt': 'two\n' });
  await publishedOrFailed(daemon, 'site', second, 'the next push followed');
  assert.equal(readPublishedFile(path, 'a.txt'), 'two\n');
  assert.ok(!daemon.lines.some((l) => l.message === 'sync failed'), daemon.output().slice(-2000));
  const status = JSON.parse((await rawRequest(await daemon.httpUrl(), { path: '/status/site' })).body) as { repo: string };
  assert.equal(status.repo, server.url('site'));
});

test('a branch literally named with 40 hex characters is fetched as a branch, published and followed (only "ref" is a commit sha)', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const name = 'deadbeef'.repeat(5);
  const site = await RemoteRepo.create(serveRoot, 'site', { branch: name });
  const first = await site.commit({ 'a.txt': 'one\n' });
  const server = await startGitDaemon(t, serveRoot);
  const listing = join(root, 'listing.json');
  const path = join(root, 'data', 'site');
  await writeFile(listing, JSON.stringify([{ path, repo: server.url('site'), branch: name }]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '300', STALE_AFTER: '200' });
  await publishedOrFailed(daemon, 'site', first, 'the 40-hex branch published');
  const second = await site.commit({ 'a.txt': 'two\n' });
  await publishedOrFailed(daemon, 'site', second, 'the 40-hex branch followed');
  await waitFor(() => readPublishedFile(path, 'a.txt') === 'two\n', { message: 'second commit readable' });
});
