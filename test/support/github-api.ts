// A loopback stand-in for the part of the GitHub API that mints installation tokens:
// POST /app/installations/{id}/access_tokens with the app's JWT. It verifies the JWT (RS256) with
// the app's public key, issues short-lived tokens, counts requests, and can revoke tokens and
// rotate the app's key, so a git server in front can accept only a currently valid token.

import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import { listenOnLoopback } from './loopback-http.js';
import type { Cleanup } from './tmp.js';

export interface AppKey {
  /** PKCS#1 PEM, as GitHub hands out app keys. */
  privatePem: string;
  publicKey: KeyObject;
}

export function newAppKey(): AppKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privatePem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), publicKey };
}

export interface TokenRequest {
  installationId: string;
  ok: boolean;
  status: number;
  /** Which of the app's keys verified the JWT (index into keys at the time). */
  keyIndex: number | null;
  at: number;
}

export interface GithubApiStandIn {
  readonly url: string;
  readonly appId: string;
  /** The app's accepted public keys; replace to rotate. */
  keys: AppKey[];
  installations: Set<string>;
  /** Life of the tokens it issues. */
  tokenTtlMs: number;
  readonly requests: TokenRequest[];
  /** Every token issued (to check that none shows up where it must not). */
  readonly issued: string[];
  /** Successful token requests so far. */
  minted(): number;
  /** Whether this Authorization header carries a token that is currently valid. */
  accepts(authorization: string | undefined): boolean;
  /** Every token issued so far stops working. */
  revokeAll(): void;
  stop(): Promise<void>;
}

export async function startGithubApi(t: Cleanup, opts: { appId?: string; keys: AppKey[]; installations: string[]; tokenTtlMs?: number }): Promise<GithubApiStandIn> {
  const tokens = new Map<string, { installationId: string; expiresAt: number }>();
  const requests: TokenRequest[] = [];
  const issued: string[] = [];
  const state = {
    appId: opts.appId ?? '12345',
    keys: opts.keys,
    installations: new Set(opts.installations),
    tokenTtlMs: opts.tokenTtlMs ?? 3_600_000,
  };

  const checkJwt = (auth: string | undefined): { keyIndex: number } | { reason: string } => {
    const m = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(auth ?? '');
    if (m === null) return { reason: 'no bearer JWT' };
    const [, head, body, sig] = m as unknown as [string, string, string, string];
    const header = JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: string };
    if (header.alg !== 'RS256') return { reason: `alg ${String(header.alg)}` };
    const keyIndex = state.keys.findIndex((k) => verify('sha256', Buffer.from(`${head}.${body}`), k.publicKey, Buffer.from(sig, 'base64url')));
    if (keyIndex === -1) return { reason: 'A JSON web token could not be decoded' };
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { iat?: number; exp?: number; iss?: unknown };
    const now = Math.floor(Date.now() / 1000);
    // GitHub's rules: issued in the past, expiring in the future, at most 10 minutes after iat.
    if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number' || claims.iat > now + 1 || claims.exp <= now || claims.exp - claims.iat > 600) {
      return { reason: `bad iat/exp ${claims.iat}/${claims.exp}` };
    }
    if (String(claims.iss) !== state.appId) return { reason: `iss ${String(claims.iss)}` };
    return { keyIndex };
  };

  const server = createServer((req, res) => {
    req.resume();
    const m = /^\/app\/installations\/([0-9]+)\/access_tokens$/.exec(req.url ?? '');
    const answer = (status: number, body: unknown, keyIndex: number | null = null) => {
      if (m !== null) requests.push({ installationId: m[1]!, ok: status === 201, status, keyIndex, at: Date.now() });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || m === null) return answer(404, { message: 'Not Found' });
    const jwt = checkJwt(req.headers.authorization);
    if ('reason' in jwt) return answer(401, { message: jwt.reason });
    if (!state.installations.has(m[1]!)) return answer(404, { message: 'Not Found' }, jwt.keyIndex);
    const token = `ghs_${randomBytes(18).toString('hex')}`;
    const expiresAt = Date.now() + state.tokenTtlMs;
    tokens.set(token, { installationId: m[1]!, expiresAt });
    issued.push(token);
    // GitHub's expires_at has whole seconds: round down, so the client never believes in a longer life.
    answer(201, { token, expires_at: new Date(Math.floor(expiresAt / 1000) * 1000).toISOString().replace('.000Z', 'Z') }, jwt.keyIndex);
  });
  const { port, stop } = await listenOnLoopback(t, server);

  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    requests,
    issued,
    minted: () => requests.filter((r) => r.ok).length,
    accepts: (authorization: string | undefined) => {
      const m = /^Basic (.+)$/.exec(authorization ?? '');
      if (m === null) return false;
      const [user, token] = Buffer.from(m[1]!, 'base64').toString().split(':') as [string, string | undefined];
      const known = token === undefined ? undefined : tokens.get(token);
      return user === 'x-access-token' && known !== undefined && Date.now() < known.expiresAt;
    },
    revokeAll: () => tokens.clear(),
    stop,
  });
}
