// A small HTTP client for tests: raw paths and headers sent as given (no URL normalisation),
// every request under a deadline; a probe that keeps asking /healthz to show the daemon stays
// responsive while something else leans on it; and a GET of a JSON route.

import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { scaled } from './tmp.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RawRequest {
  method?: string;
  /** Sent as is: malformed percent-encodings stay malformed. */
  path: string;
  headers?: OutgoingHttpHeaders;
  /** A whole body, or chunks written one after the other (chunked unless Content-Length is set). */
  body?: string | Buffer | Array<string | Buffer>;
  timeoutMs?: number;
}

/** One request on a fresh connection; rejects on a network error or after timeoutMs. */
export function rawRequest(base: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(base);
  const timeoutMs = scaled(req.timeoutMs ?? 5_000);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      { host: url.hostname, port: url.port, method: req.method ?? 'GET', path: req.path, headers: req.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => r.destroy(new Error(`${req.method ?? 'GET'} ${req.path}: no answer within ${timeoutMs} ms`)), timeoutMs);
    r.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const body = req.body;
    if (Array.isArray(body)) {
      // A write after the server closed the connection fails; the error surfaces through 'error'.
      for (const c of body) if (!r.destroyed) r.write(c);
      r.end();
    } else {
      r.end(body);
    }
  });
}

/** GET a JSON route of the daemon (/status/{name}, /readyz/{name}): its status and parsed body. */
export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A response body must never carry a stack trace out of the process. */
export function hasStackTrace(body: string): boolean {
  return /\bat .*\.(?:js|ts|mjs|cjs):\d+/.test(body) || /\n\s+at /.test(body);
}

export interface ResponsivenessReport {
  /** /healthz answers received. */
  answered: number;
  /** Requests that failed or missed the deadline, with why. */
  failures: string[];
  maxLatencyMs: number;
}

/**
 * Ask GET /healthz every `everyMs` until stop() (or `maxDurationMs`, so a forgotten probe ends by
 * itself); each request must answer 200 within `deadlineMs`.
 */
export function probeHealthz(base: string, opts: { everyMs?: number; deadlineMs?: number; maxDurationMs?: number } = {}): { stop(): Promise<ResponsivenessReport> } {
  const everyMs = opts.everyMs ?? 100;
  // Scaled like every deadline in the tests: on a loaded machine an answer takes longer, and that
  // is not what these probes are about (a daemon that answers at all while busy).
  const deadlineMs = scaled(opts.deadlineMs ?? 1_000);
  const until = Date.now() + scaled(opts.maxDurationMs ?? 60_000);
  const report: ResponsivenessReport = { answered: 0, failures: [], maxLatencyMs: 0 };
  let stopped = false;
  const loop = (async () => {
    while (!stopped && Date.now() < until) {
      const started = Date.now();
      try {
        const res = await rawRequest(base, { path: '/healthz', timeoutMs: deadlineMs });
        const ms = Date.now() - started;
        report.maxLatencyMs = Math.max(report.maxLatencyMs, ms);
        if (res.status === 200) report.answered++;
        else report.failures.push(`status ${res.status} after ${ms} ms`);
      } catch (err) {
        report.failures.push(`${(err as Error).message} after ${Date.now() - started} ms`);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return report;
    },
  };
}
