// Abuse of the daemon's HTTP surface: oversized and endless bodies, clients that trickle their
// headers, forged signatures, malformed paths. The daemon answers each with a 4xx (never a 500 or
// a stack trace) and /healthz keeps answering quickly throughout.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { hasStackTrace, probeHealthz, rawRequest, type RawRequest, type RawResponse } from '../support/http-client.js';
import { parseMetrics, sampleValue } from '../support/prom.js';
import { startTriggeredDaemon } from '../support/served-repos.js';
import type { Cleanup } from '../support/tmp.js';

const SECRET = 'hostile-webhook-secret';
const TOKEN = 'hostile-sync-token';
const MAX_BODY_BYTES = 1024 * 1024;

async function setup(t: Cleanup) {
  const { root, base, daemon } = await startTriggeredDaemon(t, { secret: SECRET, token: TOKEN, prefix: 'gas-http-' });
  // Every answer of the test is kept, to check at the end that none leaked a stack trace.
  const answers: Array<{ req: string; res: RawResponse }> = [];
  const send = async (req: RawRequest): Promise<RawResponse> => {
    const res = await rawRequest(base, req);
    answers.push({ req: `${req.method ?? 'GET'} ${req.path}`, res });
    return res;
  };
  const assertClean = () => {
    for (const a of answers) {
      assert.ok(!hasStackTrace(a.res.body), `${a.req} answered with a stack trace: ${a.res.body.slice(0, 500)}`);
      assert.ok(a.res.status < 500, `${a.req} answered ${a.res.status}: ${a.res.body.slice(0, 200)}`);
    }
  };
  const assertResponsive = async (ms = 1_000) => {
    const started = Date.now();
    const res = await rawRequest(base, { path: '/healthz', timeoutMs: ms });
    assert.equal(res.status, 200);
    return Date.now() - started;
  };
  return { root, base, daemon, send, answers, assertClean, assertResponsive };
}

const githubHeaders = (body: string | Buffer, secret = SECRET) => ({
  'content-type': 'application/json',
  'x-github-event': 'push',
  'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
});

test('oversized bodies get 413 and the daemon stays responsive', async (t) => {
  const s = await setup(t);
  const big = Buffer.alloc(MAX_BODY_BYTES + 1, 'x');
  // Declared too large: refused from the headers alone.
  for (const provider of ['github', 'gitea', 'gitlab']) {
    const res = await s.send({ method: 'POST', path: `/webhook/${provider}`, headers: { 'content-length': String(big.length), ...githubHeaders(big) }, body: big });
    assert.equal(res.status, 413, `${provider}: ${res.body}`);
  }
  // Declared huge, never sent: answered at once, not after reading 10 GiB.
  const huge = await s.send({ method: 'POST', path: '/webhook/github', headers: { 'content-length': String(10 * 1024 ** 3) }, timeoutMs: 3_000 });
  assert.equal(huge.status, 413);
  // Twenty at once.
  const many = await Promise.all(Array.from({ length: 20 }, () => s.send({ method: 'POST', path: '/webhook/github', headers: githubHeaders(big), body: big, timeoutMs: 10_000 })));
  assert.deepEqual([...new Set(many.map((r) => r.status))], [413]);
  // A body exactly at the cap is read (and refused only for its signature).
  const atCap = Buffer.alloc(MAX_BODY_BYTES, ' ');
  assert.equal((await s.send({ method: 'POST', path: '/webhook/github', headers: githubHeaders(atCap, 'wrong'), body: atCap })).status, 401);
  // /sync/{name} reads no body, yet the limit holds there too: refused before the token counts.
  assert.equal((await s.send({ method: 'POST', path: '/sync/site', headers: { authorization: 'Bearer nope' }, body: big, timeoutMs: 10_000 })).status, 413);
  // A small body there is read and dropped, and the token decides.
  assert.equal((await s.send({ method: 'POST', path: '/sync/site', headers: { authorization: 'Bearer nope' }, body: 'x'.repeat(1000) })).status, 401);
  const ms = await s.assertResponsive();
  t.diagnostic(`/healthz after the oversized bodies: ${ms} ms`);
  s.assertClean();
});

/**
 * Stream a chunked body at `path` until the daemon closes the connection (or `capBytes` went
 * out): what it answered, and how much it let us send.
 */
function streamBody(base: string, head: string, capBytes: number): Promise<{ response: string; sent: number; error: string | null }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: url.hostname, port: Number(url.port) });
    const chunk = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`), Buffer.alloc(64 * 1024, 'x'), Buffer.from('\r\n')]);
    let response = '';
    let sent = 0;
    let closed = false;
    let error: string | null = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end after sending ${sent} bytes; answer so far: ${response.slice(0, 200)}`));
    }, 60_000);
    const finish = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, sent, error });
    };
    socket.on('data', (d: Buffer) => (response += d.toString('latin1')));
    socket.on('close', finish);
    socket.on('end', finish);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
      finish();
    });
    const pump = () => {
      while (!closed && sent < capBytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      if (sent >= capBytes) finish();
    };
    socket.once('connect', () => {
      socket.write(`${head}\r\nHost: ${url.host}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      pump();
    });
  });
}

test('the 1 MiB limit holds on every route: a body past it gets 413 at once and the connection is closed, nothing read on', async (t) => {
  const s = await setup(t);
  const auth = `Authorization: Bearer ${TOKEN}`;
  // Declared: refused from the headers, with a valid token too.
  const declared = await s.send({ method: 'POST', path: '/sync/site', headers: { authorization: `Bearer ${TOKEN}`, 'content-length': String(100 * 1024 ** 2) }, timeoutMs: 3_000 });
  assert.equal(declared.status, 413);
  // Streamed: cut off soon after the limit, on every kind of route and answer.
  const cap = 64 * 1024 ** 2;
  for (const head of [`POST /sync/site HTTP/1.1\r\n${auth}`, 'GET /healthz HTTP/1.1', 'GET /status HTTP/1.1', 'POST /no-such-route HTTP/1.1', 'PUT /metrics HTTP/1.1']) {
    const r = await streamBody(s.base, head, cap);
    const line = head.split('\r\n')[0];
    // Closing on a client still sending can reset the connection before it reads the 413.
    assert.ok(/^HTTP\/1\.1 413 /.test(r.response) || (r.response === '' && /ECONNRESET|EPIPE/.test(r.error ?? '')), `${line}: ${r.error} ${r.response.slice(0, 100)}`);
    // Socket buffers on both sides hold a few MiB; a daemon that reads on takes all 64.
    assert.ok(r.sent < 16 * 1024 ** 2, `${line}: the daemon let ${r.sent} bytes in`);
  }
  // The valid token's requests were refused, never acted on.
  const metrics = parseMetrics((await s.send({ path: '/metrics' })).body);
  assert.equal(sampleValue(metrics, 'git_autosync_trigger_requests_total', { endpoint: 'sync', result: 'accepted' }) ?? 0, 0);
  await s.assertResponsive();
  s.assertClean();
});

test(
  'an oversized chunked body (no Content-Length) gets 413, not a reset connection',
  async (t) => {
    const s = await setup(t);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const res = await s.send({ method: 'POST', path: '/webhook/github', headers: githubHeaders('x'), body: Array.from({ length: 32 }, () => chunk), timeoutMs: 10_000 });
    assert.equal(res.status, 413);
  },
);

test('an oversized chunked body does not hurt the daemon (whatever the client is told)', async (t) => {
  const s = await setup(t);
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await s
      .send({ method: 'POST', path: '/webhook/github', headers: githubHeaders('x'), body: Array.from({ length: 32 }, () => chunk), timeoutMs: 10_000 })
      .then((r) => String(r.status), (err: Error) => `error: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    outcomes.push(res);
  }
  t.diagnostic(`chunked 2 MiB bodies were answered: ${outcomes.join(', ')}`);
  assert.ok(outcomes.every((o) => o === '413' || /ECONNRESET|EPIPE|socket hang up/.test(o)), outcomes.join(', '));
  await s.assertResponsive();
  assert.equal(s.daemon.child.exitCode, null);
  s.assertClean();
});

test('50 clients trickling their headers byte by byte do not slow /healthz down', async (t) => {
  const s = await setup(t);
  const url = new URL(s.base);
  const sockets: Socket[] = [];
  t.after(() => {
    for (const sock of sockets) sock.destroy();
  });
  const request = Buffer.from(`POST /webhook/github HTTP/1.1\r\nHost: ${url.host}\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\nX-Padding: ${'p'.repeat(200)}\r\n`);
  for (let i = 0; i < 50; i++) {
    const sock = connect({ host: url.hostname, port: Number(url.port) });
    sock.on('error', () => undefined); // the server may close a slow client; that is its right
    sockets.push(sock);
  }
  // Half trickle headers; the other half send complete headers and trickle a declared body.
  const bodyClients = sockets.slice(25);
  for (const sock of bodyClients) sock.write(`POST /webhook/github HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 100000\r\nX-GitHub-Event: push\r\n\r\n`);
  const probe = probeHealthz(s.base, { everyMs: 100, deadlineMs: 1_000, maxDurationMs: 10_000 });
  const until = Date.now() + 4_000;
  let offset = 0;
  let bytes = 0;
  while (Date.now() < until) {
    for (const sock of sockets.slice(0, 25)) {
      if (!sock.destroyed && offset < request.length) sock.write(request.subarray(offset, offset + 1));
    }
    for (const sock of bodyClients) if (!sock.destroyed) sock.write('x');
    offset++;
    bytes += 50;
    await new Promise((r) => setTimeout(r, 50));
  }
  const report = await probe.stop();
  t.diagnostic(`${bytes} bytes trickled over 4 s by 50 clients; /healthz answered ${report.answered} times, slowest ${report.maxLatencyMs} ms`);
  assert.deepEqual(report.failures, []);
  assert.ok(report.answered >= 20, `only ${report.answered} /healthz answers in 4 s`);
  assert.ok(report.maxLatencyMs < 1_000);
  for (const sock of sockets) sock.destroy();
  await s.assertResponsive();
});

test('malformed signatures and tokens answer 401, malformed payloads 400 or 202, never 500', async (t) => {
  const s = await setup(t);
  const body = JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: 'https://example.invalid/site.git' } });
  const rightHex = createHmac('sha256', SECRET).update(body).digest('hex');
  const forged: Array<{ provider: string; headers: Record<string, string | string[]> }> = [
    { provider: 'github', headers: {} },
    { provider: 'github', headers: { 'x-hub-signature-256': '' } },
    { provider: 'github', headers: { 'x-hub-signature-256': 'sha256=' } },
    { provider: 'github', headers: { 'x-hub-signature-256': 'sha256=zz' } },
    { provider: 'github', headers: { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` } },
    { provider: 'github', headers: { 'x-hub-signature-256': rightHex } },
    { provider: 'github', headers: { 'x-hub-signature-256': `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}` } },
    { provider: 'github', headers: { 'x-hub-signature-256': `sha256=${rightHex.slice(0, 63)}` } },
    { provider: 'github', headers: { 'x-hub-signature-256': `sha256=${rightHex}0` } },
    { provider: 'github', headers: { 'x-hub-signature-256': `sha256= ${rightHex}` } },
    { provider: 'github', headers: { 'x-hub-signature-256': ['sha256=00', `sha256=${rightHex}`] } },
    { provider: 'github', headers: { 'x-hub-signature-256': `sha256=${'é'.repeat(32)}` } },
    { provider: 'github', headers: { 'x-hub-signature-256': `sha256=${'a'.repeat(8000)}` } },
    { provider: 'github', headers: { 'x-gitlab-token': SECRET } },
    { provider: 'gitea', headers: { 'x-gitea-signature': '' } },
    { provider: 'gitea', headers: { 'x-gitea-signature': `sha256=${rightHex}` } },
    { provider: 'gitea', headers: { 'x-gitea-signature': rightHex.slice(1) } },
    { provider: 'gitea', headers: { 'x-hub-signature-256': `sha256=${rightHex}` } },
    { provider: 'gitlab', headers: {} },
    { provider: 'gitlab', headers: { 'x-gitlab-token': '' } },
    // (Trailing spaces and tabs would not count: HTTP strips them from header values.)
    { provider: 'gitlab', headers: { 'x-gitlab-token': `${SECRET} x` } },
    { provider: 'gitlab', headers: { 'x-gitlab-token': `x${SECRET}` } },
    { provider: 'gitlab', headers: { 'x-gitlab-token': SECRET.toUpperCase() } },
    { provider: 'gitlab', headers: { 'x-gitlab-token': SECRET.slice(0, -1) } },
    { provider: 'gitlab', headers: { 'x-gitlab-token': ['nope', SECRET] } },
    { provider: 'gitlab', headers: { 'x-gitlab-token': rightHex } },
  ];
  for (const f of forged) {
    const res = await s.send({ method: 'POST', path: `/webhook/${f.provider}`, headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-gitea-event': 'push', 'x-gitlab-event': 'Push Hook', ...f.headers }, body });
    assert.equal(res.status, 401, `${f.provider} ${JSON.stringify(f.headers).slice(0, 120)}: ${res.status} ${res.body}`);
  }
  const badTokens = ['', 'Bearer', 'Bearer ', `Bearer ${TOKEN}x`, `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, TOKEN, `Bearer ${'t'.repeat(8000)}`];
  for (const authorization of badTokens) {
    const res = await s.send({ method: 'POST', path: '/sync/site', headers: { authorization } });
    assert.equal(res.status, 401, `authorization ${JSON.stringify(authorization.slice(0, 40))}: ${res.status}`);
  }
  // Correctly signed, but not something we can use: 400 for non-JSON, 202 "ignored" for the rest.
  const signedCases: Array<[string, number]> = [
    ['not json', 400],
    ['{"ref": ', 400],
    ['', 400],
    ['null', 202],
    ['[]', 202],
    ['"refs/heads/main"', 202],
    ['{"ref": 42, "repository": "x"}', 202],
    ['{"ref": "refs/heads/main", "repository": {"clone_url": {"$ne": null}}}', 202],
    [`${'['.repeat(100_000)}${']'.repeat(100_000)}`, 202],
    [`{"ref":"refs/heads/main","repository":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`, 202],
  ];
  for (const [payload, status] of signedCases) {
    const res = await s.send({ method: 'POST', path: '/webhook/github', headers: githubHeaders(payload), body: payload });
    assert.equal(res.status, status, `${payload.slice(0, 40)}: ${res.status} ${res.body}`);
  }
  assert.equal((await s.send({ method: 'POST', path: '/webhook/bitbucket', body })).status, 404);
  assert.equal((await s.send({ method: 'GET', path: '/webhook/github' })).status, 405);
  assert.equal((await s.send({ method: 'PUT', path: '/sync/site', headers: { authorization: `Bearer ${TOKEN}` } })).status, 405);
  t.diagnostic(`${forged.length} forged signatures, ${badTokens.length} bad tokens, ${signedCases.length} odd signed payloads`);
  await s.assertResponsive();
  s.assertClean();
});

test('malformed URL encodings and odd paths answer 4xx, never 500', async (t) => {
  const s = await setup(t);
  const cases: Array<[string, number | number[]]> = [
    ['/status/%zz', 400],
    ['/status/%', 400],
    ['/status/%E0%A4%A', 400],
    ['/status/%C0%AF', 400],
    ['/readyz/%ff', 400],
    ['/webhook/%zz', 400],
    ['/sync/%', 400],
    ['/%', 400],
    ['/healthz%', 400],
    ['/status/%00', 404],
    ['/status/..%2F..%2Fetc%2Fpasswd', 404],
    ['/status/site%2F..', 404],
    ['/status/%2e%2e', 404],
    ['/status/site', 200],
    ['/status/si%74e', 200],
    ['/healthz?%zz', 200],
    ['/healthz#x', [200, 404]],
    [`/status/${'a'.repeat(8000)}`, 404],
    [`/${'%2F'.repeat(2000)}`, 404],
    ['/readyz/%E2%80%AE', 404],
    ['/metrics/', 404],
    ['//healthz', 404],
    ['/HEALTHZ', 404],
  ];
  for (const [path, expected] of cases) {
    const res = await s.send({ path });
    const allowed = Array.isArray(expected) ? expected : [expected];
    assert.ok(allowed.includes(res.status), `${path.slice(0, 60)}: ${res.status} ${res.body.slice(0, 200)}`);
    if (res.status === 400) assert.match(res.body, /malformed path/);
  }
  // Methods nobody routes.
  for (const method of ['DELETE', 'PATCH', 'PROPFIND', 'OPTIONS']) {
    const res = await s.send({ method, path: '/healthz' });
    assert.equal(res.status, 405, `${method} /healthz`);
  }
  t.diagnostic(`${cases.length} paths, 4 methods`);
  await s.assertResponsive();
  s.assertClean();
});
