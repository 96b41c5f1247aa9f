// Where an http(s) credential may go: each one is bound to a scope (scheme, host, port and an
// optional path prefix) and matches URLs by git's own `credential.<url>` rules (gitcredentials(7)):
// scheme, host and port exactly, the path as a prefix on "/" boundaries. The listing, the
// daemon-wide CREDENTIALS_FILE and the agent all use this one definition. No zod here: agents
// import it and stay small.

import { isAbsolute, normalize } from 'node:path';

/** One scoped credential: files only, read on every attempt. */
export interface ScopedCredential {
  /** The scope, normalised: `scheme://host[:port]/path/` (always ends in "/"). */
  url: string;
  usernameFile: string;
  passwordFile: string;
}

// C0 and C1 control characters, and the quote that would break the helper's sh quoting.
const UNSAFE_PATH = /[\u0000-\u001f\u007f-\u009f']/;

/**
 * The scope a URL names, normalised as git compares them: scheme and host lower-cased, the
 * default port dropped, the path ending in "/" so that "/team" never matches "/teamx".
 */
export function credentialScope(url: string): { scope: string } | { reason: string } {
  if (!/^https?:\/\//i.test(url)) return { reason: 'must be an http:// or https:// URL' };
  if (/[\u0000-\u0020\u007f-\u009f]/.test(url)) return { reason: 'must not contain spaces or control characters' };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { reason: 'is not a valid URL' };
  }
  if (u.username !== '' || u.password !== '') return { reason: 'must not contain a user name or password (name files with "usernameFile" and "passwordFile")' };
  if (u.search !== '' || u.hash !== '') return { reason: 'must not have a query or fragment' };
  if (u.pathname.split('/').some((s) => s === '..' || s === '.')) return { reason: 'must not contain "." or ".." segments' };
  const pathname = normaliseEscapes(u.pathname);
  const path = pathname.endsWith('/') ? pathname : `${pathname}/`;
  return { scope: `${u.protocol}//${u.host}${path}` };
}

/**
 * Percent-escapes as git's url_normalize leaves them: an unreserved character's escape decoded
 * (`%7E` is `~`), any other escape's hex upper-cased (`%2f` is `%2F`). Without it a scope naming
 * `/%7Eorg/` missed `/~org/x.git`, which git matched (test/shared/credential-scope.test.ts).
 */
function normaliseEscapes(path: string): string {
  return path.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return /^[A-Za-z0-9._~-]$/.test(c) ? c : `%${hex.toUpperCase()}`;
  });
}

/** The origin part of a URL (`scheme://host[:port]/`), the default scope of an entry's own files. */
export function originScope(repo: string): string | null {
  const s = credentialScope(repo.replace(/[?#].*$/, ''));
  if ('reason' in s) return null;
  const u = new URL(s.scope);
  return `${u.protocol}//${u.host}/`;
}

/** Whether `scope` covers `url`: same scheme, host and port; the path under the prefix. */
export function scopeMatches(scope: string, url: string): boolean {
  const bare = url.replace(/#.*$/, '');
  const q = bare.indexOf('?');
  const s = credentialScope(q === -1 ? bare : bare.slice(0, q));
  if ('reason' in s) return false;
  // git compares a query as part of the path: "/org?x=1" is not under "/org/", though under "/".
  const under = q === -1 ? s.scope : `${s.scope.slice(0, -1)}${bare.slice(q)}/`;
  return under.startsWith(scope);
}

/** Most specific first (the longest path prefix), as git needs them and as they win. */
export function bySpecificity(list: readonly ScopedCredential[]): ScopedCredential[] {
  // The first of several with one scope wins: callers list the entry's own before daemon-wide ones.
  const unique = new Map<string, ScopedCredential>();
  for (const c of list) if (!unique.has(c.url)) unique.set(c.url, c);
  // Array.prototype.sort is stable: equally long scopes keep that order.
  return [...unique.values()].sort((a, b) => b.url.length - a.url.length);
}

/** The credential git would use for `url`, or null. */
export function credentialFor(list: readonly ScopedCredential[], url: string): ScopedCredential | null {
  return bySpecificity(list).find((c) => scopeMatches(c.url, url)) ?? null;
}

function checkPath(v: unknown): string | null {
  if (typeof v !== 'string' || v === '') return 'is required (an absolute path to a file)';
  if (!isAbsolute(v) || normalize(v) !== v || v.endsWith('/')) return 'must be an absolute, normalised path';
  if (UNSAFE_PATH.test(v)) return 'must not contain control characters or a single quote';
  return null;
}

/**
 * Validate a credentials array (the listing's `credentials` field, or CREDENTIALS_FILE). Each
 * problem names the item and the field: `credentials[1].url must be an http:// or https:// URL`.
 */
export function parseCredentialList(raw: unknown, where: string): { list: ScopedCredential[] } | { errors: string[] } {
  if (!Array.isArray(raw)) return { errors: [`${where} must be an array of {"url", "usernameFile", "passwordFile"}`] };
  if (raw.length > 32) return { errors: [`${where} has ${raw.length} items; at most 32`] };
  const errors: string[] = [];
  const list: ScopedCredential[] = [];
  raw.forEach((item: unknown, i) => {
    const at = `${where}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      errors.push(`${at} must be an object {"url", "usernameFile", "passwordFile"}`);
      return;
    }
    const r = item as Record<string, unknown>;
    const unknown = Object.keys(r).filter((k) => !['url', 'usernameFile', 'passwordFile'].includes(k));
    if (unknown.length > 0) errors.push(`${at}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k.slice(0, 100))).join(', ')} (check the spelling)`);
    const scope = typeof r.url === 'string' ? credentialScope(r.url) : { reason: 'is required (an http(s) URL: scheme, host, port and an optional path prefix)' };
    if ('reason' in scope) errors.push(`${at}.url ${scope.reason}`);
    for (const field of ['usernameFile', 'passwordFile'] as const) {
      const reason = checkPath(r[field]);
      if (reason !== null) errors.push(`${at}.${field} ${reason}`);
    }
    if (!('reason' in scope) && checkPath(r.usernameFile) === null && checkPath(r.passwordFile) === null) {
      list.push({ url: scope.scope, usernameFile: r.usernameFile as string, passwordFile: r.passwordFile as string });
    }
  });
  return errors.length > 0 ? { errors } : { list };
}
