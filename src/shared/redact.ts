// Removes secrets from anything that leaves the process: log lines, IPC errors, status.
// Done in one place so that every path out is covered the same way.

const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/gi;
const AUTH_HEADER = /\b(authorization:\s*(?:basic|bearer|token)\s+)\S+/gi;
const TOKEN_PARAM = /([?&](?:access_token|private_token|token|password|passwd|secret)=)[^&\s]+/gi;
const KNOWN_TOKENS = /\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,})\b/g;

const registeredSecrets = new Set<string>();

/**
 * Remember a secret value (read from a credentials file) so it is scrubbed wherever it appears,
 * in the forms it takes on the wire too: URL-encoded, and, given the user name it goes with, the
 * base64 of "user:password" that a Basic header carries (a server echoing that header back in an
 * error line would otherwise put it in the log and /status).
 */
export function registerSecret(value: string, username?: string): void {
  const trimmed = value.trim();
  // Very short values would scrub ordinary words; such "secrets" are refused elsewhere anyway.
  if (trimmed.length < 4) return;
  for (const v of new Set([value, trimmed])) {
    registeredSecrets.add(v);
    registeredSecrets.add(encodeURIComponent(v));
    registeredSecrets.add(encodeURIComponent(v).replace(/%20/g, '+'));
    if (username !== undefined) {
      const basic = Buffer.from(`${username}:${v}`, 'utf8').toString('base64');
      registeredSecrets.add(basic);
      // Unpadded, as some servers and proxies print it.
      registeredSecrets.add(basic.replace(/=+$/, ''));
    }
  }
}

export function redact(text: string): string {
  let out = text
    .replace(URL_USERINFO, (_m, scheme: string, userinfo: string) => {
      // Keep a bare user name (ssh://git@host is not a secret); drop anything after a colon.
      const colon = userinfo.indexOf(':');
      return colon === -1 && scheme.toLowerCase().startsWith('ssh') ? `${scheme}${userinfo}@` : `${scheme}***@`;
    })
    .replace(AUTH_HEADER, '$1***')
    .replace(TOKEN_PARAM, '$1***')
    .replace(KNOWN_TOKENS, '***');
  // Longest first: a secret that contains another is scrubbed whole.
  for (const secret of [...registeredSecrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join('***');
  }
  return out;
}

/** A URL fit for logs, metrics and status: userinfo removed entirely. */
export function displayUrl(url: string): string {
  return url.replace(URL_USERINFO, '$1');
}
