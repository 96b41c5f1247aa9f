// A TCP forwarder on 127.0.0.1 that a test can cut: while cut, every open connection is reset and
// every new one is closed at once; restored, it forwards again on the same port. For a stream
// that goes away and comes back (a hub's /events behind a flaky network).
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { Cleanup } from './tmp.js';

export interface TcpProxy {
  readonly port: number;
  /** Connections accepted and forwarded so far. */
  readonly forwarded: () => number;
  cut(): void;
  restore(): void;
}

export async function startTcpProxy(t: Cleanup, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  let forwarded = 0;
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server = createServer((client) => {
    track(client);
    if (cut) return client.destroy();
    forwarded++;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    forwarded: () => forwarded,
    cut: () => {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      cut = false;
    },
  };
}
