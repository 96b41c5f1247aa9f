// A TCP server that accepts connections and never answers: a remote that hangs,
// for timeout tests.
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Cleanup } from './tmp.js';

export interface Blackhole {
  readonly port: number;
  /** Connections accepted so far. */
  connections: number;
  stop(): Promise<void>;
}

export async function startBlackhole(t: Cleanup): Promise<Blackhole> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // clients that give up reset the connection
    // Read and drop what the client sends, so its writes never block: it hangs waiting for us.
    socket.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return stopping;
  };
  t.after(stop);

  const state: Blackhole = { port: (server.address() as AddressInfo).port, connections: 0, stop };
  return state;
}
