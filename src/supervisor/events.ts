// GET /events: every publish announced as it happens, as Server-Sent Events, for other daemons
// (spokes, #17) and any other consumer. Only with SERVE_TOKEN_FILE, read again on each request,
// and only with `Authorization: Bearer <token>`. Nothing is replayed: a consumer that was away
// asks /status (or its remote) for what it missed.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Log } from '../shared/log.js';
import type { Metrics } from './metrics.js';
import { readSecret, tokenMatches } from './secrets.js';

export interface PublishEvent {
  name: string;
  commit: string;
  previousCommit: string | null;
  at: string;
}

/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
export const EVENTS_HEARTBEAT_MS = 15_000;
/** Open streams at most: each holds a socket and a buffer. */
export const MAX_EVENT_SUBSCRIBERS = 256;
/** A consumer this far behind (bytes queued for it) is cut off rather than buffered for. */
const MAX_QUEUED_BYTES = 1024 * 1024;
/** How soon a consumer that lost the stream should reconnect (EventSource's `retry:`). */
const RECONNECT_MS = 2_000;

export class PublishEvents {
  private readonly subscribers = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly tokenFile: string | undefined,
    private readonly metrics: Metrics,
    private readonly log: Log,
  ) {}

  /** `open`: on the open bind (SERVE_OPEN_BIND), where no token is asked. */
  async handle(req: IncomingMessage, res: ServerResponse, open = false): Promise<void> {
    const token = open ? null : await readSecret(this.tokenFile);
    const answer = (status: number, result: string, error: string) => {
      this.metrics.serveRequests.inc({ endpoint: 'events', result });
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(`${JSON.stringify({ error })}\n`);
    };
    if (!open && token === null) return answer(404, 'disabled', 'not found');
    if (!open && token !== null && !tokenMatches(req.headers.authorization, token, false)) {
      this.log.warn('event stream refused: bad token', {});
      return answer(401, 'unauthorized', 'bad token');
    }
    if (this.subscribers.size >= MAX_EVENT_SUBSCRIBERS) return answer(503, 'busy', `${MAX_EVENT_SUBSCRIBERS} event streams are open already`);
    this.metrics.serveRequests.inc({ endpoint: 'events', result: 'accepted' });
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.write(`retry: ${RECONNECT_MS}\n: connected\n\n`);
    this.subscribers.add(res);
    this.metrics.eventSubscribers.set(this.subscribers.size);
    res.on('close', () => this.drop(res));
    this.heartbeat ??= setInterval(() => this.send(': heartbeat\n\n'), EVENTS_HEARTBEAT_MS);
  }

  announce(e: PublishEvent): void {
    if (this.subscribers.size > 0) this.send(`event: published\ndata: ${JSON.stringify(e)}\n\n`);
  }

  /** Ends every stream (the daemon is stopping): consumers reconnect to whoever serves next. */
  close(): void {
    for (const res of [...this.subscribers]) res.end();
  }

  private send(text: string): void {
    for (const res of this.subscribers) {
      if (res.writableLength > MAX_QUEUED_BYTES) {
        this.log.warn('event stream cut: the consumer reads too slowly', { queuedBytes: res.writableLength });
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }

  private drop(res: ServerResponse): void {
    this.subscribers.delete(res);
    this.metrics.eventSubscribers.set(this.subscribers.size);
    if (this.subscribers.size === 0 && this.heartbeat !== null) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }
}
