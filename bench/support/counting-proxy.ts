// A TCP forwarder on 127.0.0.1 that counts the connections it forwards and the bytes the target
// sends back: put one in front of a git server per client (a hub, each direct daemon) and the
// server's load is attributed to the client that caused it. git:// opens one connection per
// command (ls-remote, fetch), so connections are requests.

import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { Cleanup } from '../../test/support/tmp.js';

export interface ProxyCounts {
  connections: number;
  /** Bytes from the target to the client: what the server sent (refs, packs). */
  bytesFromTarget: number;
}

export interface CountingProxy {
  readonly port: number;
  /** Counts so far; take two and subtract for a window. */
  counts(): ProxyCounts;
}

export async function startCountingProxy(t: Cleanup, targetPort: number): Promise<CountingProxy> {
  const counts: ProxyCounts = { connections: 0, bytesFromTarget: 0 };
  const open = new Set<Socket>();
  const server = createServer((client) => {
    counts.connections += 1;
    open.add(client);
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    open.add(upstream);
    // A client that hangs up mid-fetch is the client's business: neither side's error is ours.
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    upstream.on('data', (chunk: Buffer) => {
      counts.bytesFromTarget += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => {
      open.delete(client);
      upstream.destroy();
    });
    upstream.once('close', () => {
      open.delete(upstream);
      client.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  t.after(async () => {
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, counts: () => ({ ...counts }) };
}

export const countsBetween = (before: ProxyCounts, after: ProxyCounts): ProxyCounts => ({
  connections: after.connections - before.connections,
  bytesFromTarget: after.bytesFromTarget - before.bytesFromTarget,
});
