// FOLLOW_EVENTS: a spoke listening to its hub's /events. An entry whose `repo` is that hub's
// /git/{name} syncs the moment the hub announces a publish of {name}; the entry's own poll (of the
// hub, never of the origin) goes on underneath, so while the stream is down nothing is missed for
// longer than an interval. The stream reconnects with backoff and jitter; each (re)connection
// syncs every followed entry once, for what was announced while it was away.

import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { backoffDelay } from '../shared/backoff.js';
import type { Log } from '../shared/log.js';
import { EVENTS_HEARTBEAT_MS } from './events.js';
import type { Metrics } from './metrics.js';
import { readSecret } from './secrets.js';
import type { Triggerable } from './triggers.js';

/** A stream silent for this long (three missed heartbeats) is taken for dead and reopened. */
export const FOLLOW_SILENCE_MS = 3 * EVENTS_HEARTBEAT_MS;
/** Reconnection backoff: from 1 s, doubling to 30 s, ±20% jitter (shared/backoff.ts). */
export const FOLLOW_BACKOFF = { baseMs: 1000, capMs: 30_000 } as const;
/** An event line longer than this is not an event of ours: the stream is dropped. */
const MAX_EVENT_BYTES = 64 * 1024;

export interface StreamState {
  /** The hub's /events URL (never carries credentials: config.ts refuses them). */
  events: string;
  stream: 'connected' | 'down';
  since: string;
  /** Why it is down, while it is. */
  reason: string | null;
}

/** The /git/ prefix of the hub whose /events is `events`: http://hub:8080/events → http://hub:8080/git/ */
export function hubGitPrefix(events: URL): string {
  return `${events.origin}${events.pathname.replace(/\/events$/, '')}/git/`;
}

/** The served name an entry's `repo` fetches from the hub, or null when it is not the hub's. */
export function followedName(repo: string, prefix: string): string | null {
  let url: URL;
  try {
    url = new URL(repo);
  } catch {
    return null;
  }
  const plain = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  if (!plain.startsWith(prefix)) return null;
  const name = plain.slice(prefix.length);
  return name !== '' && !name.includes('/') ? name : null;
}

/** Server-Sent Events, as much as the hub sends: `event:` and `data:` lines, a blank line ends one. */
export class EventParser {
  private buffer = '';
  private event = 'message';
  private data: string[] = [];

  constructor(private readonly onEvent: (event: string, data: string) => void) {}

  /** Feed received text; throws when a line grows past the limit. */
  push(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\n|\r/)) !== -1) {
      // A CR that ends what has arrived may be the first half of a CRLF: wait for the next byte.
      if (nl === this.buffer.length - 1 && this.buffer.endsWith('\r')) break;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith('\r\n', nl) ? 2 : 1));
      this.line(line);
    }
    if (this.buffer.length > MAX_EVENT_BYTES) throw new Error(`an event line longer than ${MAX_EVENT_BYTES} bytes`);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent(this.event, this.data.join('\n'));
      this.event = 'message';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // a comment: the heartbeat
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

export class HubFollower {
  private state: StreamState;
  private attempt = 0;
  private current: ClientRequest | null = null;
  private retry: NodeJS.Timeout | null = null;
  private silence: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly prefix: string;

  constructor(
    private readonly url: URL,
    private readonly tokenFile: string | undefined,
    private readonly agents: () => Iterable<Triggerable>,
    private readonly metrics: Metrics,
    private readonly log: Log,
  ) {
    this.prefix = hubGitPrefix(url);
    this.state = { events: url.href, stream: 'down', since: new Date().toISOString(), reason: 'not connected yet' };
  }

  /** The stream's state, for /status of every followed entry. */
  get status(): StreamState {
    return this.state;
  }

  /** Is `repo` one of this hub's /git/{name}? */
  follows(repo: string): boolean {
    return followedName(repo, this.prefix) !== null;
  }

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.silence !== null) clearTimeout(this.silence);
    this.current?.destroy();
  }

  private followed(name: string | null): Triggerable[] {
    return [...this.agents()].filter((a) => {
      const n = followedName(a.desired.entry.repo, this.prefix);
      return n !== null && (name === null || n === name);
    });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const token = await readSecret(this.tokenFile);
    const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(this.url, {
      headers: { Accept: 'text/event-stream', 'Cache-Control': 'no-store', ...(token === null ? {} : { Authorization: `Bearer ${token}` }) },
    });
    this.current = req;
    req.on('response', (res) => this.onResponse(req, res));
    req.on('error', (err) => this.down(req, err.message));
    req.end();
    this.armSilence(req);
  }

  private onResponse(req: ClientRequest, res: IncomingMessage): void {
    const type = String(res.headers['content-type'] ?? '');
    if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
      res.resume();
      // No redirect is followed: the token is for the hub named, and only for it.
      return this.down(req, `the hub answered HTTP ${res.statusCode ?? '?'}${res.statusCode === 401 ? ' (check FOLLOW_TOKEN_FILE)' : ''}`);
    }
    this.attempt = 0;
    this.state = { events: this.url.href, stream: 'connected', since: new Date().toISOString(), reason: null };
    this.metrics.followStreamConnected.set(1);
    this.log.info('following the hub', { events: this.url.href });
    // Whatever was published while we were away: one check of each followed entry, against the hub.
    for (const a of this.followed(null)) a.syncNow('hub stream connected');
    const parser = new EventParser((event, data) => this.onEvent(event, data));
    res.setEncoding('utf8');
    res.on('data', (text: string) => {
      this.armSilence(req);
      try {
        parser.push(text);
      } catch (err) {
        req.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    res.on('end', () => this.down(req, 'the hub closed the stream'));
    res.on('error', (err) => this.down(req, err.message));
  }

  private onEvent(event: string, data: string): void {
    if (event !== 'published') return;
    let name: unknown;
    try {
      name = (JSON.parse(data) as { name?: unknown }).name;
    } catch {
      return;
    }
    if (typeof name !== 'string') return;
    for (const a of this.followed(name)) a.syncNow('hub published');
  }

  private armSilence(req: ClientRequest): void {
    if (this.silence !== null) clearTimeout(this.silence);
    this.silence = setTimeout(() => req.destroy(new Error(`the hub sent nothing for ${FOLLOW_SILENCE_MS} ms`)), FOLLOW_SILENCE_MS);
    this.silence.unref();
  }

  /** The stream ended: say so once, and try again after a backoff. */
  private down(req: ClientRequest, reason: string): void {
    if (req !== this.current) return; // an older connection's late news
    this.current = null;
    req.destroy();
    if (this.silence !== null) clearTimeout(this.silence);
    if (this.stopped) return;
    if (this.state.stream === 'connected' || this.state.reason !== reason) {
      this.log.warn('hub event stream down; entries poll the hub on their interval until it is back', { events: this.url.href, reason });
      const since = this.state.stream === 'down' ? this.state.since : new Date().toISOString();
      this.state = { events: this.url.href, stream: 'down', since, reason };
    }
    this.metrics.followStreamConnected.set(0);
    this.attempt++;
    this.retry = setTimeout(() => void this.connect(), backoffDelay(this.attempt, FOLLOW_BACKOFF.baseMs, FOLLOW_BACKOFF.capMs));
    this.retry.unref();
  }
}
