// Smart HTTP git with basic auth: a node:http server in the test process that runs
// `git http-backend` as a CGI program for each request.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { GitServer } from './git-daemon.js';
import { fixtureGitEnv, git } from './git-repo.js';
import { listenOnLoopback } from './loopback-http.js';
import type { Cleanup } from './tmp.js';

export interface HttpGitServer extends GitServer {
  readonly username: string;
  readonly password: string;
  /** Requests seen so far, including the ones refused for missing credentials. */
  requests: number;
  /** Every Authorization header sent to this server, in order (requests without one are left out). */
  readonly authorizations: string[];
  /** Every request's path and Authorization header (undefined: none), in order. */
  readonly seen: Array<{ path: string; authorization: string | undefined }>;
}

export interface HttpGitServerOptions {
  username?: string;
  password?: string;
  /**
   * Answer every request with a 302 to the same path under this base URL (another server): with
   * `afterAuth`, only requests that carry this server's own credentials are redirected.
   */
  redirect?: { to: string; afterAuth?: boolean; status?: number };
  /** A renamed project: requests under `/<from>` are answered 301 to the same path under `/<to>`. */
  rename?: { from: string; to: string };
  /** A server that echoes the Authorization header back in its error line (a quirky proxy). */
  echoAuthInError?: boolean;
  /** Asked first for every request: an answer other than null is sent instead (a host limiting its rate). */
  refuse?: () => { status: number; headers?: Record<string, string> } | null;
  /** Decides instead of the fixed user name and password (a token that changes, say). */
  authorize?: (authorization: string | undefined) => boolean;
}

export async function startHttpGitServer(
  t: Cleanup,
  serveRoot: string,
  opts: HttpGitServerOptions = {},
): Promise<HttpGitServer> {
  const username = opts.username ?? 'autosync';
  const password = opts.password ?? `pw-${randomBytes(8).toString('hex')}`;
  const expectedAuth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const backend = `${await git(serveRoot, ['--exec-path'])}/git-http-backend`;
  const cgis = new Set<ChildProcess>();

  const server = createServer((req, res) => {
    state.requests++;
    if (req.headers.authorization !== undefined) state.authorizations.push(req.headers.authorization);
    state.seen.push({ path: req.url ?? '/', authorization: req.headers.authorization });
    const refusal = opts.refuse?.() ?? null;
    if (refusal !== null) {
      res.writeHead(refusal.status, { 'Content-Type': 'text/plain', ...refusal.headers });
      res.end('slow down\n');
      req.resume();
      return;
    }
    if (opts.redirect !== undefined && (opts.redirect.afterAuth !== true || req.headers.authorization === expectedAuth)) {
      res.writeHead(opts.redirect.status ?? 302, { Location: `${opts.redirect.to.replace(/\/+$/, '')}${req.url ?? '/'}` });
      res.end();
      req.resume();
      return;
    }
    if (opts.rename !== undefined && (req.url ?? '').startsWith(`/${opts.rename.from}`)) {
      res.writeHead(301, { Location: `/${opts.rename.to}${(req.url ?? '').slice(opts.rename.from.length + 1)}` });
      res.end();
      req.resume();
      return;
    }
    if (opts.echoAuthInError === true && req.headers.authorization !== undefined) {
      // A smart-HTTP error line, which git prints as "remote error: …".
      const line = `ERR access denied for ${req.headers.authorization}\n`;
      res.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' });
      res.end(`${(line.length + 4).toString(16).padStart(4, '0')}${line}`);
      req.resume();
      return;
    }
    const allowed = opts.authorize !== undefined ? opts.authorize(req.headers.authorization) : req.headers.authorization === expectedAuth;
    if (!allowed) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      req.resume();
      return;
    }
    runCgi(backend, serveRoot, username, req, res, cgis);
  });
  const { port, stop } = await listenOnLoopback(t, server, () => {
    for (const child of cgis) child.kill('SIGKILL');
  });

  const state: HttpGitServer = {
    port,
    pid: process.pid,
    username,
    password,
    requests: 0,
    authorizations: [],
    seen: [],
    url: (repoName) => `http://127.0.0.1:${port}/${repoName}.git`,
    stop,
  };
  return state;
}

function runCgi(
  backend: string,
  serveRoot: string,
  username: string,
  req: IncomingMessage,
  res: ServerResponse,
  cgis: Set<ChildProcess>,
): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  let pathInfo: string;
  try {
    pathInfo = decodeURIComponent(url.pathname);
  } catch {
    res.writeHead(400).end('bad path\n');
    return;
  }
  const optional = (name: string, value: string | undefined) => (value === undefined ? {} : { [name]: value });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...fixtureGitEnv,
    GIT_PROJECT_ROOT: serveRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: pathInfo,
    QUERY_STRING: url.search.slice(1),
    REMOTE_USER: username,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    ...optional('CONTENT_TYPE', req.headers['content-type']),
    // Absent for chunked bodies (git sends big requests that way); http-backend then reads to EOF.
    ...optional('CONTENT_LENGTH', req.headers['content-length']),
    // Carries "version=2" to upload-pack; without it every fetch falls back to protocol v0.
    ...optional('GIT_PROTOCOL', header(req, 'git-protocol')),
    ...optional('HTTP_CONTENT_ENCODING', req.headers['content-encoding']),
  };

  const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  cgis.add(child);
  child.once('close', () => cgis.delete(child));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8192);
  });
  child.once('error', (error) => fail(`could not run ${backend}: ${error.message}`));
  // The client hung up: nobody will read the rest.
  res.once('close', () => {
    if (!res.writableFinished) child.kill('SIGKILL');
  });

  child.stdin.on('error', () => undefined); // EPIPE when the backend answers before reading everything
  req.pipe(child.stdin);

  // A CGI answer is header lines, a blank line, then the body.
  let head: Buffer | undefined = Buffer.alloc(0);
  child.stdout.on('data', (chunk: Buffer) => {
    if (head === undefined) {
      writeWithBackpressure(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = headerEnd(head);
    if (end === undefined) return;
    const { status, headers } = parseCgiHeaders(head.subarray(0, end.start).toString('latin1'));
    const body = head.subarray(end.bodyStart);
    head = undefined;
    res.writeHead(status, headers);
    if (body.length > 0) writeWithBackpressure(body);
  });
  child.stdout.once('end', () => {
    if (head !== undefined) fail(`git http-backend ended without headers: ${stderr.trim()}`);
    else res.end();
  });

  function writeWithBackpressure(chunk: Buffer): void {
    if (!res.write(chunk)) {
      child.stdout.pause();
      res.once('drain', () => child.stdout.resume());
    }
  }

  function fail(message: string): void {
    if (res.headersSent) {
      res.destroy();
    } else {
      res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`${message}\n`);
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Where the CGI header block ends; backends may use CRLF or bare LF. */
function headerEnd(buf: Buffer): { start: number; bodyStart: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return undefined;
  if (lf === -1 || (crlf !== -1 && crlf < lf)) return { start: crlf, bodyStart: crlf + 4 };
  return { start: lf, bodyStart: lf + 2 };
}

function parseCgiHeaders(text: string): { status: number; headers: Record<string, string | string[]> } {
  let status = 200;
  const headers: Record<string, string | string[]> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      status = Number.parseInt(value, 10) || 500;
      continue;
    }
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return { status, headers };
}
