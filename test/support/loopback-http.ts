// An in-process node:http server on a free 127.0.0.1 port, stopped by the test's clean-up: the
// listen and stop that every HTTP stand-in in test/support needs (git smart HTTP, GitHub API).

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Cleanup } from './tmp.js';

export interface LoopbackHttp {
  readonly port: number;
  /** Idempotent; the test's clean-up calls it too. */
  stop(): Promise<void>;
}

/** Listens on 127.0.0.1 (port 0: the kernel picks a free one); `beforeClose` runs first on stop. */
export async function listenOnLoopback(t: Cleanup, server: Server, beforeClose?: () => void): Promise<LoopbackHttp> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= new Promise<void>((resolve) => {
      beforeClose?.();
      server.close(() => resolve());
      // close() alone waits for keep-alive connections clients (git) may hold open.
      server.closeAllConnections();
    });
    return stopping;
  };
  t.after(stop);
  return { port, stop };
}
