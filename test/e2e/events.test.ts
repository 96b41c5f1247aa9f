// GET /events (#17): every publish announced as it happens, only to a holder of SERVE_TOKEN_FILE's
// token (read per request), counted; the stream ends when the daemon stops.
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { serveRepos } from '../support/served-repos.js';
import { waitFor } from '../support/tmp.js';

/** An open event stream: its raw text so far, and whether the server ended it. */
function subscribe(t: { after(fn: () => unknown): void }, url: string, token: string): Promise<{ res: IncomingMessage; text: () => string; ended: () => boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      let ended = false;
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (ended = true));
      res.on('close', () => (ended = true));
      resolve({ res, text: () => text, ended: () => ended });
    });
    req.on('error', reject);
    t.after(() => req.destroy());
    req.end();
  });
}

/** The `published` events in a stream's text. */
const publishedEvents = (text: string) =>
  [...text.matchAll(/^event: published\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as { name: string; commit: string; previousCommit: string | null; at: string });

test('a token holder hears every publish as it happens; without the token, or with a wrong one, nothing; the stream ends with the daemon', async (t) => {
  const s = await serveRepos(t, { site: { 'index.html': 'v1\n' }, docs: { 'README.md': 'd1\n' } });
  await writeFile(s.listing, JSON.stringify([
    { name: 'site', path: join(s.data, 'site'), repo: s.git.url('site'), branch: 'main' },
    { name: 'docs', path: join(s.data, 'docs'), repo: s.git.url('docs'), branch: 'main' },
  ]));
  const tokenFile = join(s.root, 'serve-token');
  await writeFile(tokenFile, '\n'); // configured but empty: not served yet
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', SERVE_TOKEN_FILE: tokenFile });
  const base = await daemon.httpUrl();
  const events = `${base}/events`;
  assert.equal((await fetch(events, { headers: { authorization: 'Bearer anything' } })).status, 404, 'an empty token file serves nothing');

  // The file is read on each request: a token written now applies at once.
  const token = 'serve-token-for-tests';
  await writeFile(tokenFile, `${token}\n`);
  assert.equal((await fetch(events)).status, 401);
  assert.equal((await fetch(events, { headers: { authorization: 'Bearer wrong' } })).status, 401);

  const stream = await subscribe(t, events, token);
  assert.equal(stream.res.statusCode, 200);
  assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
  await waitFor(() => stream.text().includes(': connected'), { message: 'the stream opens' });
  for (const name of ['site', 'docs'] as const) {
    await waitFor(async () => {
      const st = (await (await fetch(`${base}/status/${name}`)).json()) as { publishedCommit?: string | null };
      return st.publishedCommit === s.heads[name];
    }, { timeoutMs: 60_000, message: `${name} published first` });
  }

  const before = publishedEvents(stream.text()).length;
  const pushed = await s.repos.site.commit({ 'index.html': 'v2\n' });
  const heard = await waitFor(() => publishedEvents(stream.text()).slice(before).find((e) => e.name === 'site' && e.commit === pushed), { timeoutMs: 60_000, message: 'the publish announced' });
  assert.equal(heard.previousCommit, s.heads.site);
  assert.ok(!Number.isNaN(Date.parse(heard.at)), heard.at);
  assert.ok(!publishedEvents(stream.text()).slice(before).some((e) => e.name === 'docs'), 'an entry that did not move is not announced');

  const metrics = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  assert.equal(sampleValue(metrics, 'git_autosync_serve_requests_total', { endpoint: 'events', result: 'disabled' }), 1);
  assert.equal(sampleValue(metrics, 'git_autosync_serve_requests_total', { endpoint: 'events', result: 'unauthorized' }), 2);
  assert.equal(sampleValue(metrics, 'git_autosync_serve_requests_total', { endpoint: 'events', result: 'accepted' }), 1);
  assert.equal(sampleValue(metrics, 'git_autosync_event_subscribers', {}), 1);
  assert.ok(!daemon.output().includes(token), 'the token is in no log line');

  assert.equal(await daemon.stop('SIGTERM'), 0);
  await waitFor(() => stream.ended(), { message: 'the stream ends with the daemon' });
});
