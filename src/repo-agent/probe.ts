// The cheap check, in process: which commits the remote's refs point at, asked over git:// or
// smart HTTP with protocol v2 `ls-refs`, so an unchanged poll spawns no process at all. It only
// decides whether to fetch: what gets published is always exactly what git fetched (FETCH_HEAD).
// Anything unusual (a redirect, an unexpected status or reply, any error) answers "unknown" and
// the caller asks `git ls-remote` instead.

import type { Agent as HttpAgent, IncomingMessage, request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { scopeMatches } from '../shared/credential-scope.js';
import { isObjectId } from '../shared/object-id.js';
import { parseRetryAfter, type RateLimit } from './rate-limit.js';

/** `rateLimited`: the host asked us to slow down; the caller must not ask it again (by git) now. */
export type ProbeResult = { refs: Map<string, string> } | { unknown: string } | { rateLimited: RateLimit };
type HttpAnswer = { body: Buffer; contentType: string } | { unknown: string } | { rateLimited: RateLimit };

export interface ProbeTarget {
  url: string;
  /** Ref prefixes to list, as ls-remote patterns (full names or HEAD). */
  prefixes: string[];
  /** Sent only to URLs inside `scope` (the credential's own, see shared/credential-scope.ts). */
  auth: { username: string; password: string; scope: string } | null;
  timeoutMs: number;
}

// ---- pkt-line ---------------------------------------------------------------------------------

export function pkt(line: string): Buffer {
  const body = Buffer.from(line, 'utf8');
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0')), body]);
}
const FLUSH = Buffer.from('0000');
const DELIM = Buffer.from('0001');

/** Split a buffer of pkt-lines; null entries mark flush/delim packets. Throws on a malformed stream. */
export function parsePktLines(buf: Buffer): Array<string | null> {
  const out: Array<string | null> = [];
  let i = 0;
  while (i + 4 <= buf.length) {
    const len = parseInt(buf.subarray(i, i + 4).toString('ascii'), 16);
    if (Number.isNaN(len)) throw new Error('malformed pkt-line length');
    if (len < 4) {
      out.push(null);
      i += 4;
      continue;
    }
    if (i + len > buf.length) throw new Error('truncated pkt-line');
    out.push(buf.subarray(i + 4, i + len).toString('utf8'));
    i += len;
  }
  return out;
}

function lsRefsRequest(prefixes: string[]): Buffer {
  return Buffer.concat([pkt('command=ls-refs\n'), DELIM, pkt('peel\n'), ...prefixes.map((p) => pkt(`ref-prefix ${p.replace(/\^\{\}$/, '')}\n`)), FLUSH]);
}

/** Refs from a v2 ls-refs answer ("<oid> <name>[ peeled:<oid>]"), peeled ones as "<name>^{}". */
function parseLsRefs(lines: Array<string | null>): Map<string, string> {
  const refs = new Map<string, string>();
  for (const line of lines) {
    if (line === null) break;
    const [oid, name, ...attrs] = line.trimEnd().split(' ');
    if (oid === undefined || name === undefined || !isObjectId(oid)) throw new Error(`unexpected ls-refs line: ${line.slice(0, 80)}`);
    refs.set(name, oid);
    const peeled = attrs.find((a) => a.startsWith('peeled:'))?.slice(7);
    if (peeled !== undefined && isObjectId(peeled)) refs.set(`${name}^{}`, peeled);
  }
  return refs;
}

/** Refs from a v0 advertisement ("<oid> <name>[\0caps]"), as ls-remote prints them. */
function parseV0(lines: Array<string | null>): Map<string, string> {
  const refs = new Map<string, string>();
  for (const line of lines) {
    if (line === null) break;
    const [oid, rest] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
    const name = rest.split('\0')[0]!.trimEnd();
    if (!isObjectId(oid)) throw new Error(`unexpected advertisement line: ${line.slice(0, 80)}`);
    refs.set(name, oid);
  }
  return refs;
}

/** Keep only what ls-remote with these patterns would print (same tail-matching rule). */
function filterRefs(refs: Map<string, string>, prefixes: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, oid] of refs) {
    const bare = name.replace(/\^\{\}$/, '');
    if (prefixes.some((p) => bare === p || bare.endsWith(`/${p}`))) out.set(name, oid);
  }
  return out;
}

// ---- git:// -----------------------------------------------------------------------------------

function probeGitDaemon(target: ProbeTarget): Promise<ProbeResult> {
  const url = new URL(target.url);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 9418) });
    let buf = Buffer.alloc(0);
    let phase: 'caps' | 'refs' = 'caps';
    const done = (r: ProbeResult) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(target.timeoutMs, () => done({ unknown: 'timeout' }));
    socket.on('error', (err) => done({ unknown: err.message }));
    socket.on('connect', () => {
      const host = url.port ? `${url.hostname}:${url.port}` : url.hostname;
      socket.write(pkt(`git-upload-pack ${decodeURIComponent(url.pathname)}\0host=${host}\0\0version=2\0`));
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      // Wait for a whole section (ends in a flush packet) before parsing.
      if (!buf.subarray(-4).equals(FLUSH)) return;
      let lines: Array<string | null>;
      try {
        lines = parsePktLines(buf);
      } catch (err) {
        return done({ unknown: (err as Error).message });
      }
      if (phase === 'caps') {
        if (lines[0] === 'version 2\n') {
          phase = 'refs';
          buf = Buffer.alloc(0);
          socket.write(lsRefsRequest(target.prefixes));
          return;
        }
        if (typeof lines[0] === 'string' && lines[0].startsWith('ERR ')) return done({ unknown: lines[0].trim() });
        try {
          return done({ refs: filterRefs(parseV0(lines), target.prefixes) });
        } catch (err) {
          return done({ unknown: (err as Error).message });
        }
      }
      try {
        socket.end(FLUSH);
        done({ refs: parseLsRefs(lines) });
      } catch (err) {
        done({ unknown: (err as Error).message });
      }
    });
    socket.on('end', () => done({ unknown: 'connection closed early' }));
  });
}

// ---- smart HTTP -------------------------------------------------------------------------------

function readCaFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined; // git will report the real problem when it falls back
  }
}

export class HttpProber {
  // Kept alive between polls: an unchanged poll over https then costs no new TLS handshake.
  private agent: HttpAgent | null = null;
  private request_: typeof httpRequest | null = null;
  private closed = false;

  constructor(
    private readonly https: boolean,
    private readonly caFile?: string,
  ) {}

  /**
   * node:http, or node:https, loaded with the first probe: an agent on git://, ssh or a local
   * path never loads them, one on http:// never loads TLS (measured: node:http +0.8 MB private
   * in an idle agent, node:https +0.6 MB more).
   */
  private async client(): Promise<{ agent: HttpAgent; request: typeof httpRequest }> {
    if (this.agent === null || this.request_ === null) {
      if (this.https) {
        const { Agent, request } = await import('node:https');
        const ca = this.caFile === undefined ? undefined : readCaFile(this.caFile);
        this.agent ??= new Agent({ keepAlive: true, maxSockets: 1, ...(ca === undefined ? {} : { ca }) });
        this.request_ = request;
      } else {
        const { Agent, request } = await import('node:http');
        this.agent ??= new Agent({ keepAlive: true, maxSockets: 1 });
        this.request_ = request;
      }
      if (this.closed) this.agent.destroy();
    }
    return { agent: this.agent, request: this.request_ };
  }

  close(): void {
    this.closed = true;
    this.agent?.destroy();
  }

  async probe(target: ProbeTarget): Promise<ProbeResult> {
    const base = target.url.replace(/\/+$/, '');
    const headers: Record<string, string> = { 'Git-Protocol': 'version=2', 'User-Agent': 'git/2 (git-autosync)' };
    // Never a credential outside its scope. Redirects are not followed here at all (a 30x answers
    // "unknown" and git asks instead, under git's own rules), so this header goes nowhere else.
    if (target.auth !== null && scopeMatches(target.auth.scope, base)) headers.Authorization = `Basic ${Buffer.from(`${target.auth.username}:${target.auth.password}`).toString('base64')}`;
    const adv = await this.request('GET', `${base}/info/refs?service=git-upload-pack`, headers, null, target.timeoutMs);
    if (!('body' in adv)) return adv;
    if (!/^application\/x-git-upload-pack-advertisement/.test(adv.contentType)) return { unknown: `not a smart HTTP server (${adv.contentType})` };
    let lines: Array<string | null>;
    try {
      lines = parsePktLines(adv.body);
    } catch (err) {
      return { unknown: (err as Error).message };
    }
    // "# service=git-upload-pack", flush, then either "version 2" or a v0 ref advertisement.
    const rest = lines[0]?.startsWith('# service=') ? lines.slice(2) : lines;
    try {
      if (rest[0] !== 'version 2\n') return { refs: filterRefs(parseV0(rest), target.prefixes) };
      const res = await this.request(
        'POST',
        `${base}/git-upload-pack`,
        { ...headers, 'Content-Type': 'application/x-git-upload-pack-request', Accept: 'application/x-git-upload-pack-result' },
        lsRefsRequest(target.prefixes),
        target.timeoutMs,
      );
      if (!('body' in res)) return res;
      return { refs: parseLsRefs(parsePktLines(res.body)) };
    } catch (err) {
      return { unknown: (err as Error).message };
    }
  }

  private request(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Buffer | null,
    timeoutMs: number,
  ): Promise<HttpAnswer> {
    return this.client().then(({ agent, request }) => new Promise((resolve) => {
      const req = request(url, { method, headers, agent, timeout: timeoutMs }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          // A ref listing for a few prefixes is small; anything huge is not worth reading here.
          if (size > 4 * 1024 * 1024) req.destroy(new Error('answer too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status === 200) return resolve({ body: Buffer.concat(chunks), contentType: String(res.headers['content-type'] ?? '') });
          // 503 alone is an outage (git may still get through); with Retry-After it is a request to wait.
          const retryAfterMs = parseRetryAfter(res.headers['retry-after'], Date.now());
          if (status === 429 || (status === 503 && retryAfterMs !== null)) resolve({ rateLimited: { status, retryAfterMs } });
          else resolve({ unknown: `HTTP ${status}` });
        });
        res.on('error', (err) => resolve({ unknown: err.message }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve({ unknown: err.message }));
      req.end(body ?? undefined);
    }));
  }
}

export function probeGit(target: ProbeTarget): Promise<ProbeResult> {
  return probeGitDaemon(target);
}
