// src/supervisor/status-page.ts: the HTML status page as a pure function of /status's records,
// and its route in http.ts over a real socket.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import { registerSecret } from '../../src/shared/redact.js';
import { createOperationsServer } from '../../src/supervisor/http.js';
import { applyAgentMessage, applyStateChange, initialStatus, refusedStatus, type RepoStatus } from '../../src/supervisor/status.js';
import { renderStatusPage, STATUS_PAGE_CSP } from '../../src/supervisor/status-page.js';
import type { Triggers } from '../../src/supervisor/triggers.js';
import type { PublishEvents } from '../../src/supervisor/events.js';

const A = 'a1b2c3d4e5'.repeat(4);
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const running = { from: 'starting', to: 'running', pid: 42, restarts: 0, failure: null, restartInMs: null } as const;

function entry(extra: Record<string, unknown> = {}) {
  const r = resolveEntry({ path: '/data/site', repo: 'https://h.example/site.git', ...extra }, 0, DEFAULTS);
  if ('errors' in r) throw new Error(`fixture must be valid: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.entry;
}

function synced(name = 'site'): RepoStatus {
  let s = applyStateChange(initialStatus(entry({ name, path: `/data/${name}` })), running, NOW - 60_000);
  s = applyAgentMessage(s, { type: 'synced', commit: A, previousCommit: null, durationMs: 120, fetched: true, kept: [] }, NOW - 30_000);
  return s;
}

function failing(message: string, extra: Record<string, unknown> = {}): RepoStatus {
  let s = applyStateChange(initialStatus(entry({ name: 'broken', path: '/data/broken', ...extra })), running, NOW - 60_000);
  s = applyAgentMessage(s, { type: 'failed', error: { kind: 'network', message }, consecutiveFailures: 3, retryInMs: 40_000, durationMs: 9 }, NOW - 20_000);
  return s;
}

const page = (statuses: RepoStatus[], listingLoadedAt: string | null = new Date(NOW - 120_000).toISOString()) => renderStatusPage({ statuses, listingLoadedAt, now: NOW });

/** The page's rows, as the browser would split them (one <tr> per entry in the body). */
const rows = (html: string) => html.split('<tbody>')[1]?.split('</tbody>')[0]?.split('</tr>').filter((r) => r.includes('<tr')) ?? [];

test('one row per entry with what an operator needs; the summary counts states and says when the listing was loaded', () => {
  const html = page([synced(), failing('early EOF')]);
  const [ok, bad] = rows(html);
  assert.ok(ok !== undefined && bad !== undefined, 'two rows');
  assert.match(ok, /class="tone-ok" data-name="site" data-state="synced"/);
  assert.match(ok, /<code class="sha" title="a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5">a1b2c3d4e5a1<\/code>/, 'short sha, full one on hover, no link');
  assert.match(ok, /30 s ago/);
  assert.match(ok, /<td data-label="Interval">1 min<\/td>/, 'the interval (DEFAULTS)');
  assert.doesNotMatch(html, /<a /, 'no links anywhere');
  assert.match(bad, /class="tone-bad" data-name="broken" data-state="failing"/);
  assert.match(bad, /<span class="kind">network<\/span> early EOF/);
  assert.match(bad, /in 20 s/, 'next retry');
  assert.match(bad, /<span class="empty">never<\/span>/);
  assert.match(html, /2 entries: 1 synced, 1 failing · listing loaded at 2026-06-01T11:58:00.000Z \(2 min ago\)/);
});

test('an invalid entry is shown as such, with the listing\'s reason; no listing yet says so', () => {
  const refused = refusedStatus({ index: 2, name: undefined, path: '/data/x', message: 'listing entry #3: "repo" is required' }, new Date(NOW).toISOString());
  const html = page([refused], null);
  assert.match(rows(html)[0] ?? '', /data-name="\(entry #3\)" data-state="invalid"[\s\S]*invalid listing entry<\/span> listing entry #3: &quot;repo&quot; is required/);
  assert.match(html, /1 entry: 0 synced, 0 failing, 1 invalid · no valid listing loaded yet/);
});

test('markup from a remote\'s error text, a branch name and a repo URL is shown as text, never as markup', () => {
  // A listing name cannot hold "<", but a branch name can, and a remote writes its own error text.
  const hostile = '</td></tr><script>alert(1)</script><img src=x onerror="alert(2)"> \' & --> </style>';
  const s = failing(hostile, { branch: 'feat/<svg/onload=alert(3)>', repo: 'https://h.example/x"onmouseover="alert(4).git' });
  const withHistory = applyAgentMessage(s, { type: 'failed', error: { kind: 'auth', message: hostile }, consecutiveFailures: 4, retryInMs: 1, durationMs: 1 }, NOW);
  const html = page([{ ...withHistory, agentError: { message: hostile, at: new Date(NOW).toISOString() } }]);
  assert.equal(html.match(/<script/g)?.length, 1, 'only the page\'s own script element');
  assert.equal(html.match(/<style/g)?.length, 1, 'only the page\'s own style element');
  assert.doesNotMatch(html, /<img|<svg/, 'no element from the text');
  assert.doesNotMatch(html, /"on\w+=|\son\w+="/, 'no attribute from the text: its quotes are escaped');
  assert.ok(html.includes('&lt;/td&gt;&lt;/tr&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &#39; &amp; --&gt; &lt;/style&gt;'));
  assert.ok(html.includes('feat/&lt;svg/onload=alert(3)&gt;'));
  assert.ok(html.includes('x&quot;onmouseover=&quot;alert(4).git'));
  assert.equal(rows(html).length, 1, 'the hostile text did not open or close a row');
});

test('secrets in error text are redacted on the page even if they reached the status unredacted', () => {
  registerSecret('hunter2-page-secret');
  const html = page([failing('auth failed for https://bob:pw@h.example/x.git with hunter2-page-secret')]);
  assert.doesNotMatch(html, /hunter2-page-secret|bob:pw/);
  assert.match(html, /https:\/\/\*\*\*@h\.example\/x\.git with \*\*\*/);
});

test('progress shows in the state cell while a fetch runs; the history strip reads oldest to newest', () => {
  let s = synced();
  s = applyAgentMessage(s, { type: 'failed', error: { kind: 'timeout', message: 'slow' }, consecutiveFailures: 1, retryInMs: 1, durationMs: 2 }, NOW - 10_000);
  s = applyAgentMessage(s, { type: 'sync-started', reason: 'retry' }, NOW - 5_000);
  s = applyAgentMessage(s, { type: 'progress', progress: { phase: 'receiving', percent: 42.7, bytes: 13_000_000 } }, NOW - 1_000);
  const html = page([s]);
  assert.match(html, /<div class="sub progress">receiving · 42% · 12\.4 MiB<\/div>/);
  const marks = [...html.matchAll(/<span class="h-(\w+)" title="([^"]*)"/g)].map((m) => [m[1], m[2]]);
  assert.deepEqual(marks.map((m) => m[0]), ['synced', 'failed'], 'oldest first');
  assert.match(marks[1]![1]!, /failed \(timeout\), 2 ms/);
});

test('the page\'s script and style are exactly the ones its CSP allows by hash; nothing else may load', () => {
  const html = page([synced()]);
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1];
  assert.ok(script !== undefined && style !== undefined);
  assert.ok(STATUS_PAGE_CSP.includes(`script-src ${hash(script)}`), STATUS_PAGE_CSP);
  assert.ok(STATUS_PAGE_CSP.includes(`style-src ${hash(style)}`), STATUS_PAGE_CSP);
  assert.match(STATUS_PAGE_CSP, /^default-src 'none'; /);
  assert.doesNotMatch(STATUS_PAGE_CSP, /unsafe/);
  assert.doesNotMatch(html, / style="/, 'no inline style attributes (the CSP would refuse them)');
});

test('GET / answers the page with a strict CSP and nosniff; HEAD too; other methods 405', async (t) => {
  const server: Server = createOperationsServer(
    { statuses: () => [synced()], listingLoadedAt: () => new Date(NOW).toISOString(), metrics: async () => ({ contentType: 'text/plain', body: '' }), triggers: {} as Triggers, events: {} as PublishEvents },
    { error() {}, warn() {}, info() {}, debug() {} },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  const base = `http://127.0.0.1:${address.port}`;
  const res = await fetch(`${base}/?refresh=1`);
  const body = await res.text();
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(res.headers.get('content-security-policy'), STATUS_PAGE_CSP);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.match(body, /data-name="site"/);
  const head = await fetch(base, { method: 'HEAD' });
  assert.deepEqual([head.status, await head.text()], [200, '']);
  const post = await fetch(base, { method: 'POST', body: 'x' });
  assert.deepEqual([post.status, post.headers.get('allow')], [405, 'GET']);
});

test("a spoke whose hub stream is down says so, with the reason as text; a connected one says nothing", () => {
  const down = { ...synced('app'), hub: { events: 'http://hub:8080/events', stream: 'down' as const, since: new Date(NOW - 5000).toISOString(), reason: 'the hub answered HTTP 502 <b>x</b>' } };
  const up = { ...synced('other'), hub: { events: 'http://hub:8080/events', stream: 'connected' as const, since: new Date(NOW - 5000).toISOString(), reason: null } };
  const body = page([down, up]);
  assert.match(body, /hub stream down, polling the hub: the hub answered HTTP 502 &lt;b&gt;x&lt;\/b&gt;/);
  assert.equal(body.match(/hub stream down/g)?.length, 1, 'only the entry whose stream is down');
});
