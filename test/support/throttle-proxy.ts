// A TCP proxy on 127.0.0.1 that passes what the server sends on at a bounded rate: a slow
// remote, for tests that watch a long fetch while it runs.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { Cleanup } from './tmp.js';

export interface ThrottleProxy {
  readonly port: number;
  /** Bytes passed from the server to clients so far. */
  readonly sent: () => number;
  stop(): Promise<void>;
}

const TICK_MS = 50;

/** Forward to `targetPort`; server-to-client bytes at most `bytesPerSecond` per connection. */
export async function startThrottleProxy(t: Cleanup, targetPort: number, bytesPerSecond: number): Promise<ThrottleProxy> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let sent = 0;
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined); // either side may reset when the other gives up
  };
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    track(client);
    track(upstream);
    client.pipe(upstream);
    // Each tick lets through a tick's share; the rest waits, and the server is paused meanwhile.
    const perTick = Math.max(1, Math.floor((bytesPerSecond * TICK_MS) / 1000));
    let queue: Buffer[] = [];
    let ended = false;
    const timer = setInterval(() => {
      let budget = perTick;
      while (budget > 0 && queue.length > 0) {
        const head = queue[0]!;
        const piece = head.subarray(0, budget);
        client.write(piece);
        sent += piece.length;
        budget -= piece.length;
        if (piece.length === head.length) queue.shift();
        else queue[0] = head.subarray(piece.length);
      }
      if (queue.length === 0) {
        if (ended) {
          clearInterval(timer);
          timers.delete(timer);
          client.end();
        } else upstream.resume();
      }
    }, TICK_MS);
    timers.add(timer);
    upstream.on('data', (d: Buffer) => {
      queue.push(d);
      upstream.pause();
    });
    upstream.on('end', () => (ended = true));
    const close = () => {
      clearInterval(timer);
      timers.delete(timer);
      queue = [];
      client.destroy();
      upstream.destroy();
    };
    client.once('close', close);
    upstream.once('error', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const timer of timers) clearInterval(timer);
      for (const s of sockets) s.destroy();
    });
    return stopping;
  };
  t.after(stop);
  return { port: (server.address() as AddressInfo).port, sent: () => sent, stop };
}
