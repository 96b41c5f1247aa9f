import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { processesIn } from '../support/fault-git.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { publishedCommit, readPublishedFile, stateDirOf } from '../support/published.js';
import { makeTempDir, scaled, waitFor } from '../support/tmp.js';

/**
 * A TCP proxy to the git daemon that, once `stall()` is called, stops passing the server's bytes
 * after `afterBytes` more of them: the remote hangs in the middle of sending a pack.
 */
async function stallingProxy(t: { after(fn: () => unknown): void }, targetPort: number) {
  let budget = Infinity;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (budget <= 0) return; // swallowed: the client waits forever
      const pass = chunk.subarray(0, Math.min(chunk.length, budget));
      budget -= pass.length;
      client.write(pass);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    upstream.on('end', () => budget > 0 && client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    stall(afterBytes: number) {
      budget = afterBytes;
    },
    heal() {
      budget = Infinity;
    },
  };
}

test('a remote that stalls in the middle of a pack times out, keeps the last good tree, and recovers', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'app');
  const first = await repo.commit({ 'v.txt': '1\n' });
  const daemon = await startGitDaemon(t, serveRoot);
  const proxy = await stallingProxy(t, daemon.port);
  const path = join(root, 'data', 'app');
  // The git deadline is scaled: a first clone on a loaded machine can take longer than 2 s.
  const timeoutMs = scaled(2000);
  const agent = await startAgent(t, { path, repo: `git://127.0.0.1:${proxy.port}/app.git`, branch: 'main', timeout: timeoutMs });
  await agent.waitForMessage('synced', (m) => m.commit === first);
  // A commit with a large, incompressible file: its pack is far bigger than what gets through.
  const big = await repo.commit({ 'v.txt': '2\n', 'blob.bin': randomBytes(2 * 1024 * 1024).toString('base64') });
  proxy.stall(64 * 1024);
  const failed = await agent.waitForMessage('failed', (m) => m.error.kind === 'timeout', 30_000 + timeoutMs);
  assert.match(failed.error.message, new RegExp(`did not finish within ${Math.round(timeoutMs / 1000)}s`));
  assert.equal(publishedCommit(path), first);
  assert.equal(readPublishedFile(path, 'v.txt'), '1\n');
  await waitFor(() => processesIn(stateDirOf(path)).length === 0, { message: 'the hung git was killed', timeoutMs: 10_000 });
  proxy.heal();
  await agent.waitForMessage('synced', (m) => m.commit === big, 30_000);
  assert.equal(readPublishedFile(path, 'v.txt'), '2\n');
});
