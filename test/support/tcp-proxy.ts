// A TCP forwarder on 127.0.0.1 that a test can cut: while cut, every open connection whose
// request began with the given bytes (say `GET /events`) is reset, and each new one is closed at
// once; other connections pass. Restored, it forwards them all again. For a stream that goes away
// and comes back (a hub's /events behind a flaky network) while the rest still gets through.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { Cleanup } from './tmp.js';

export interface TcpProxy {
  readonly port: number;
  /** Reset the connections whose first bytes are `prefix`, and refuse new ones, until restored. */
  cut(prefix: string): void;
  restore(): void;
}

export async function startTcpProxy(t: Cleanup, targetPort: number): Promise<TcpProxy> {
  const opened = new Map<Socket, string>();
  let cutPrefix: string | null = null;
  const server = createServer((client) => {
    client.on('error', () => undefined);
    client.once('close', () => opened.delete(client));
    client.once('data', (first: Buffer) => {
      const head = first.toString('latin1');
      if (cutPrefix !== null && head.startsWith(cutPrefix)) return client.destroy();
      opened.set(client, head);
      const upstream = connect({ host: '127.0.0.1', port: targetPort });
      upstream.on('error', () => undefined);
      upstream.write(first);
      client.pipe(upstream);
      upstream.pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of opened.keys()) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    cut: (prefix) => {
      cutPrefix = prefix;
      for (const [s, head] of opened) if (head.startsWith(prefix)) s.destroy();
    },
    restore: () => {
      cutPrefix = null;
    },
  };
}
