// Credentials from a local endpoint (git-sync's --askpass-url), asked on every attempt: a loopback
// endpoint that rotates its answer, in front of a smart-HTTP server that accepts only the current one.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { RemoteRepo } from '../support/git-repo.js';
import { startHttpGitServer } from '../support/http-server.js';
import { readPublishedFile } from '../support/published.js';
import { makeTempDir, waitFor, type Cleanup } from '../support/tmp.js';

async function startAskpassEndpoint(t: Cleanup) {
  const state = { password: `pw-${randomBytes(8).toString('hex')}`, requests: 0, status: 200 };
  const server = createServer((req, res) => {
    state.requests++;
    req.resume();
    if (state.status !== 200) return res.writeHead(state.status).end('no\n');
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`username=autosync\npassword=${state.password}\n`);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return Object.assign(state, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/git-credentials` });
}

test('askpassUrl is asked on every attempt, so a rotated answer is used at once', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'site');
  const head = await repo.commit({ 'name.txt': 'one\n' });
  const endpoint = await startAskpassEndpoint(t);
  const seen: string[] = [];
  const accepted = new Set([endpoint.password]);
  const http = await startHttpGitServer(t, serveRoot, {
    authorize: (h) => [...accepted].some((pw) => h === `Basic ${Buffer.from(`autosync:${pw}`).toString('base64')}`),
  });
  const path = join(root, 'data', 'site');
  const agent = await startAgent(t, { path, repo: http.url('site'), branch: 'main', askpassUrl: endpoint.url });
  await agent.waitForMessage('synced', (m) => m.commit === head, 60_000);
  seen.push(endpoint.password);
  const asked = endpoint.requests;
  await waitFor(() => endpoint.requests >= asked + 3, { timeoutMs: 30_000, message: 'asked again on later polls' });

  // The sidecar rotates the token; once the agent has asked again, the old one is revoked.
  const old = endpoint.password;
  endpoint.password = `pw-${randomBytes(8).toString('hex')}`;
  seen.push(endpoint.password);
  accepted.add(endpoint.password);
  const rotatedAt = endpoint.requests;
  await waitFor(() => endpoint.requests > rotatedAt, { timeoutMs: 30_000, message: 'asked after the rotation' });
  accepted.delete(old);
  const next = await repo.commit({ 'name.txt': 'two\n' });
  await agent.waitForMessage('synced', (m) => m.commit === next, 60_000);
  assert.equal(readPublishedFile(path, 'name.txt'), 'two\n');
  assert.ok(!agent.messages.some((m) => m.type === 'failed'), 'no attempt failed across the rotation');

  // The endpoint refusing: an auth failure naming the field, the tree stays.
  endpoint.status = 403;
  await agent.waitForMessage('failed', (m) => m.error.kind === 'auth' && m.error.message.startsWith(`"askpassUrl" ${endpoint.url}: answered 403`), 60_000);
  assert.equal(readPublishedFile(path, 'name.txt'), 'two\n');
  await agent.stop();
  for (const pw of seen) assert.ok(!agent.output().includes(pw), 'a password from the endpoint leaked into the output');
});
