// The operations surface on HTTP_BIND: / (the status page) /healthz /readyz[/name] /metrics /status[/name],
// /events (every publish, see events.ts) and, with SERVE_GIT, /git/{name} (serve-git.ts). The open
// bind (SERVE_OPEN_BIND) is a second server of the same kind with only /git and /events, tokenless.
// Unknown paths 404, wrong methods 405, and no error ever carries a stack trace out.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Log } from '../shared/log.js';
import { notReadyReason, readiness, type RepoStatus } from './status.js';
import type { Triggers } from './triggers.js';
import { PROVIDERS, type Provider } from './webhooks.js';
import type { PublishEvents } from './events.js';
import type { GitServer } from './serve-git.js';
import { groupNotReadyReason, type GroupStatus } from './groups.js';

export interface OperationsView {
  statuses(): RepoStatus[];
  /** When the listing in force was loaded; null until one has been read successfully: nothing is known to sync yet. */
  listingLoadedAt(): string | null;
  metrics(): Promise<{ contentType: string; body: string }>;
  triggers: Triggers;
  events: Pick<PublishEvents, 'handle'>;
  /** Consistent sets (`group`): /status/{group} and /readyz/{group} when no entry has that name. */
  groups?: { statuses(): GroupStatus[]; get(name: string): GroupStatus | undefined };
  /** With SERVE_GIT: each entry's published commit over smart HTTP. */
  git?: Pick<GitServer, 'handle'>;
}

export interface ServerOptions {
  /** The open bind: only what is served (/git, /events), and no token asked. */
  servedOnly?: boolean;
}

/**
 * Push payloads are small; on every route, whatever it does with a body, a larger one is refused
 * (413, connection closed) as soon as it is declared or its bytes pass the limit: never read on.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/** `body` is the request's whole body for routes that keep it (`keepsBody`), empty otherwise. */
type Handler = (req: IncomingMessage, res: ServerResponse, param: string | undefined, body: Buffer) => Promise<void> | void;

class BodyTooLarge extends Error {}

/**
 * Read the request's body up to MAX_BODY_BYTES: kept when `keep`, else dropped as it arrives.
 * Every request goes through here before it is answered: a route that needs no body must not
 * leave Node to drain an endless one after the answer (it would read it all).
 */
function consumeBody(req: IncomingMessage, keep: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        // Stop reading but keep the socket: the 413 must still reach the client, and the
        // connection is closed after it (Connection: close), which discards the rest.
        req.off('data', onData);
        req.pause();
        reject(new BodyTooLarge());
      } else if (keep) chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface Route {
  pattern: RegExp;
  methods: Record<string, Handler>;
  /** The routes that read the body (webhooks): it is kept for them. */
  keepsBody?: true;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${text}\n`);
}

export function createOperationsServer(view: OperationsView, log: Log, options: ServerOptions = {}): Server {
  const open = options.servedOnly === true;
  const byName = (name: string | undefined) => view.statuses().find((s) => s.name === name);
  const served: Route[] = [{ pattern: /^\/events$/, methods: { GET: (req, res) => view.events.handle(req, res, open) } }];
  const git = view.git;
  if (git !== undefined) {
    const handle: Handler = (req, res, rest, body) => git.handle(req, res, rest ?? '', body, open);
    // A fetch's negotiation is a body like a webhook's: kept, within the same limit.
    served.push({ pattern: /^\/git\/(.+)$/, keepsBody: true, methods: { GET: handle, POST: handle } });
  }
  const operations: Route[] = [
    {
      pattern: /^\/healthz$/,
      methods: {
        // Liveness never depends on remotes: restarting the daemon would not bring a remote back.
        // An answer is the proof of life: a stuck event loop answers nothing, and the probe fails.
        GET: (_q, res) => json(res, 200, { status: 'ok' }),
      },
    },
    {
      pattern: /^\/readyz$/,
      methods: {
        GET: (_q, res) => {
          const r = readiness(view.statuses(), Date.now());
          if (view.listingLoadedAt() === null) r.failing.unshift({ name: '(listing)', reason: 'no valid listing has been read yet' });
          for (const g of view.groups?.statuses() ?? []) {
            const reason = g.required ? groupNotReadyReason(g) : null;
            if (reason !== null) r.failing.push({ name: g.name, reason });
          }
          const ready = r.failing.length === 0;
          json(res, ready ? 200 : 503, ready ? { status: 'ready' } : { status: 'not ready', failing: r.failing });
        },
      },
    },
    {
      pattern: /^\/readyz\/([^/]+)$/,
      methods: {
        GET: (_q, res, name) => {
          const s = byName(name);
          const group = s === undefined ? view.groups?.get(name ?? '') : undefined;
          if (group !== undefined) {
            // The whole set: ready once a generation holding every member is shown.
            const why = groupNotReadyReason(group);
            return json(res, why === null ? 200 : 503, why === null ? { status: 'ready', generation: group.generation } : { status: 'not ready', reason: why });
          }
          if (s === undefined) return json(res, 404, { error: `no entry named "${name}"` });
          const reason = notReadyReason(s, Date.now());
          // A refused entry kept on its last good definition says so, ready or not.
          const invalid = s.invalid === null ? {} : { invalid: s.invalid };
          json(res, reason === null ? 200 : 503, reason === null ? { status: 'ready', ...invalid } : { status: 'not ready', reason, ...invalid });
        },
      },
    },
    {
      pattern: /^\/metrics$/,
      methods: {
        GET: async (_q, res) => {
          const m = await view.metrics();
          res.writeHead(200, { 'Content-Type': m.contentType });
          res.end(m.body);
        },
      },
    },
    {
      pattern: /^\/$/,
      methods: {
        GET: async (_q, res) => {
          // Loaded on first view: importing it at start-up added about 0.5 MiB to the supervisor's
          // RSS (67.6 → 68.1 MiB, 3 runs each, heap unchanged), for a page most daemons never serve.
          const page = await import('./status-page.js');
          const body = page.renderStatusPage({ statuses: view.statuses(), listingLoadedAt: view.listingLoadedAt(), now: Date.now() });
          res.writeHead(200, page.STATUS_PAGE_HEADERS);
          res.end(body);
        },
      },
    },
    { pattern: /^\/status$/, methods: { GET: (_q, res) => json(res, 200, view.statuses()) } },
    {
      pattern: /^\/webhook\/([^/]+)$/,
      keepsBody: true,
      methods: {
        POST: async (req, res, provider, body) => {
          if (!(PROVIDERS as readonly string[]).includes(provider ?? '')) return json(res, 404, { error: 'not found' });
          const r = await view.triggers.webhook(provider as Provider, req.headers, body);
          json(res, r.status, r.body);
        },
      },
    },
    {
      pattern: /^\/sync\/([^/]+)$/,
      methods: {
        POST: async (req, res, name) => {
          const r = await view.triggers.syncByName(name ?? '', req.headers.authorization);
          json(res, r.status, r.body);
        },
      },
    },
    {
      pattern: /^\/status\/([^/]+)$/,
      methods: {
        GET: (_q, res, name) => {
          const s = byName(name) ?? view.groups?.get(name ?? '');
          if (s === undefined) json(res, 404, { error: `no entry named "${name}"` });
          else json(res, 200, s);
        },
      },
    },
  ];
  const routes = open ? served : [...operations, ...served];

  /** Which handler answers the request (an error answer for bad paths and methods). */
  const dispatch = (req: IncomingMessage): { handler: Handler; param?: string; keepsBody: boolean; path: string } => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return { handler: (_q, res) => json(res, 400, { error: 'malformed path' }), keepsBody: false, path };
    }
    const route = routes.find((r) => r.pattern.test(decoded));
    if (route === undefined) return { handler: (_q, res) => json(res, 404, { error: 'not found' }), keepsBody: false, path: decoded };
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const handler = route.methods[method];
    if (handler === undefined) {
      return {
        handler: (_q, res) => {
          res.setHeader('Allow', Object.keys(route.methods).join(', '));
          json(res, 405, { error: `method ${req.method} not allowed` });
        },
        keepsBody: false,
        path: decoded,
      };
    }
    return { handler, param: route.pattern.exec(decoded)?.[1], keepsBody: route.keepsBody === true && method !== 'GET', path: decoded };
  };

  const server = createServer((req, res) => {
    const { handler, param, keepsBody, path: decoded } = dispatch(req);
    // The body comes first, whatever the route: the limit holds everywhere, and a request is
    // acted on only once it has arrived whole (keep-alive connections stay usable too).
    consumeBody(req, keepsBody)
      .then((body) => handler(req, res, param, body))
      .catch((err: unknown) => {
        if (err instanceof BodyTooLarge) {
          res.setHeader('Connection', 'close');
          res.on('finish', () => req.destroy());
          return json(res, 413, { error: `body larger than ${MAX_BODY_BYTES} bytes` });
        }
        log.error('http handler failed', { path: decoded, error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) json(res, 500, { error: 'internal error' });
        else res.end();
      });
  });
  // Slow clients cannot hold connections open for long.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  return server;
}
