// `verify` (#18) as a user runs it: the daemon, two entries of one remote sharing an object store,
// a refused commit in /status and the metrics.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { publishedCommit } from '../support/published.js';
import { sshSigner, writeTrust } from '../support/signing.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

test('with a shared store, an unsigned push is refused for every entry following it: /status names the commit, metrics count it, the signed tag entry is untouched', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const remote = await RemoteRepo.create(serveRoot, 'site');
  const keys = join(root, 'keys');
  await mkdir(keys);
  const dev = await sshSigner(keys, 'dev');
  const trusted = join(keys, 'allowed_signers');
  await writeTrust(trusted, [dev]);
  remote.signing = dev.signing;
  const first = await remote.commit({ 'index.html': 'v1\n' }, 'signed v1');
  await remote.tag('v1', { annotated: true });
  const server = await startGitDaemon(t, serveRoot);

  const data = join(root, 'data');
  const listing = join(root, 'listing.json');
  const verify = { mode: 'tag-and-head', sshAllowedSignersFile: trusted };
  await writeFile(listing, JSON.stringify([
    { path: join(data, 'live'), repo: server.url('site'), branch: 'main', verify: { sshAllowedSignersFile: trusted } },
    { path: join(data, 'release'), repo: server.url('site'), ref: 'v1', verify },
  ]));
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200' });
  const base = await daemon.httpUrl();
  for (const name of ['live', 'release']) {
    await waitFor(() => publishedCommit(join(data, name)) === first, { timeoutMs: 60_000, message: `${name} published; output:\n${daemon.output().slice(-3000)}` });
  }
  assert.ok(existsSync(join(data, '.git-autosync-stores')), 'the two entries share a store');

  remote.signing = null;
  const unsigned = await remote.commit({ 'index.html': 'tampered\n' });
  const status = async () => (await (await fetch(`${base}/status/live`)).json()) as { lastError: { kind: string; commit?: string; message: string } | null; unverifiedCommit: string | null; publishedCommit: string };
  const st = await waitFor(async () => {
    const s = await status();
    return s.unverifiedCommit === unsigned && s.lastError?.kind === 'unverified' && s;
  }, { timeoutMs: 60_000, message: 'the refusal in /status' });
  assert.equal(st.lastError?.commit, unsigned);
  assert.match(st.lastError?.message ?? '', /has no good signature by a key of verify\.sshAllowedSignersFile/);
  assert.equal(st.publishedCommit, first);
  assert.equal(publishedCommit(join(data, 'live')), first, 'the previous tree stays');
  const metrics = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  assert.equal(sampleValue(metrics, 'git_autosync_sync_errors_total', { repo: 'live', kind: 'unverified' }), 1, 'counted once: not retried');
  assert.equal(sampleValue(metrics, 'git_autosync_sync_errors_total', { repo: 'release', kind: 'unverified' }), undefined);
  assert.equal(publishedCommit(join(data, 'release')), first);

  remote.signing = dev.signing;
  const signed = await remote.commit({ 'index.html': 'v2\n' });
  await waitFor(() => publishedCommit(join(data, 'live')) === signed, { timeoutMs: 60_000, message: 'the signed commit published' });
  // The tree is on disk a moment before the agent's report reaches /status (a loaded machine saw it).
  const after = await waitFor(async () => {
    const s = await status();
    return s.publishedCommit === signed && s;
  }, { timeoutMs: 60_000, message: '/status shows the signed commit' });
  assert.equal(after.unverifiedCommit, null);
});
