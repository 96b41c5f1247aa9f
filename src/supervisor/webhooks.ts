// Incoming push webhooks: signature checks (constant time) and payload → "which repo, which ref".
// Pure functions over the raw body and headers; the HTTP layer reads secrets and sends sync-now.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { isObjectId } from '../shared/object-id.js';
import { SEMVER_REF_PREFIX } from '../shared/entry-fields.js';

export type Provider = 'github' | 'gitlab' | 'gitea';
export const PROVIDERS: readonly Provider[] = ['github', 'gitlab', 'gitea'];

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const v: unknown = headers[name.toLowerCase()];
  const first: unknown = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : undefined;
}

export function equalConstantTime(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // Compare equal-length buffers so the time taken never tells how much of a guess was right.
  return x.length === y.length && timingSafeEqual(x, y);
}

const hmacHex = (secret: string, body: Buffer) => createHmac('sha256', secret).update(body).digest('hex');

/** True when the request carries a valid signature or token for `secret`. */
export function verifySignature(provider: Provider, secret: string, headers: Headers, body: Buffer): boolean {
  switch (provider) {
    case 'github': {
      const sig = header(headers, 'x-hub-signature-256') ?? '';
      return sig.startsWith('sha256=') && equalConstantTime(sig.slice(7).toLowerCase(), hmacHex(secret, body));
    }
    case 'gitea': {
      const sig = header(headers, 'x-gitea-signature') ?? header(headers, 'x-gogs-signature') ?? '';
      return equalConstantTime(sig.toLowerCase(), hmacHex(secret, body));
    }
    case 'gitlab':
      return equalConstantTime(header(headers, 'x-gitlab-token') ?? '', secret);
  }
}

export type WebhookEvent = { kind: 'push'; ref: string; urls: string[] } | { kind: 'other'; event: string };

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Read a push event out of a verified payload; anything else is "other". */
export function parsePush(provider: Provider, headers: Headers, payload: unknown): WebhookEvent {
  const event =
    provider === 'github' ? header(headers, 'x-github-event') : provider === 'gitea' ? (header(headers, 'x-gitea-event') ?? header(headers, 'x-gogs-event')) : header(headers, 'x-gitlab-event');
  const isPush = provider === 'gitlab' ? event === 'Push Hook' || event === 'Tag Push Hook' : event === 'push';
  if (!isPush || typeof payload !== 'object' || payload === null) return { kind: 'other', event: event ?? 'unknown' };
  const p = payload as Record<string, unknown>;
  const ref = p.ref;
  if (!str(ref)) return { kind: 'other', event: event ?? 'unknown' };
  const repo = (p.repository ?? {}) as Record<string, unknown>;
  const project = (p.project ?? {}) as Record<string, unknown>;
  const urls = [
    repo.clone_url, repo.ssh_url, repo.git_url, repo.html_url, repo.url, repo.git_http_url, repo.git_ssh_url, repo.homepage,
    project.git_http_url, project.git_ssh_url, project.web_url, project.http_url, project.ssh_url,
  ].filter(str);
  return { kind: 'push', ref, urls };
}

/**
 * One spelling for every way a repo URL is written: scheme, userinfo, port, case, ".git" and
 * trailing slashes dropped; scp-like `git@host:org/repo` read as `host/org/repo`.
 */
export function normalizeRepoUrl(url: string): string {
  // Each rule may expose another ("x.git.git", "a@b@c:p"): apply them until nothing changes.
  let s = url;
  for (let i = 0; i < 8; i++) {
    const next = normalizeOnce(s);
    if (next === s) return s;
    s = next;
  }
  return s;
}

function normalizeOnce(url: string): string {
  let s = url.trim();
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/\/)(.*)$/.exec(s);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = `${scp[1]}/${scp[2]}`;
  else s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/^[^@/]*@/, '');
  s = s.replace(/^([^/:]+):\d+(?=\/)/, '$1');
  return s.replace(/\/+$/, '').replace(/\.git$/i, '').replace(/\/+$/, '').toLowerCase();
}

/** Does a push of `ref` to one of `urls` concern this entry? */
export function pushMatches(entry: Pick<ResolvedEntry, 'repo' | 'ref'>, push: { ref: string; urls: string[] }): boolean {
  const target = normalizeRepoUrl(entry.repo);
  if (!push.urls.some((u) => normalizeRepoUrl(u) === target)) return false;
  const ref = entry.ref;
  if (ref === null) return push.ref.startsWith('refs/heads/'); // following HEAD: any branch push may move it
  if (isObjectId(ref)) return false; // pinned: nothing to do
  // Any tag pushed or deleted may change which tag is the highest in range; a sync costs one ls-remote.
  if (ref.startsWith(SEMVER_REF_PREFIX)) return push.ref.startsWith('refs/tags/');
  if (ref.startsWith('refs/')) return push.ref === ref;
  return push.ref === `refs/heads/${ref}` || push.ref === `refs/tags/${ref}`;
}
