// Secrets the supervisor checks requests against (webhook secret, sync and serve tokens): read
// from their files on every request, so a rotated Secret applies without a restart.

import { readFile } from 'node:fs/promises';
import { equalConstantTime } from './webhooks.js';

/** The first line of a secret file, or null when it is unset, missing or empty. */
export async function readSecret(file: string | undefined): Promise<string | null> {
  if (file === undefined) return null;
  const text = await readFile(file, 'utf8').catch(() => null);
  const secret = text?.split('\n')[0]?.trim() ?? '';
  return secret === '' ? null : secret;
}

/**
 * Does the request carry `token`, as `Bearer <token>` or as the password of Basic credentials
 * (any user name)? Basic is what git sends from a credential helper, so a spoke authenticates to
 * /git/{name} with an ordinary `usernameFile`/`passwordFile` pair; the stream takes Bearer.
 */
export function tokenMatches(authorization: string | undefined, token: string, basic: boolean): boolean {
  const a = authorization ?? '';
  const bearer = /^Bearer\s+(.+)$/i.exec(a)?.[1]?.trim();
  if (bearer !== undefined) return equalConstantTime(bearer, token);
  const encoded = basic ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(a)?.[1] : undefined;
  if (encoded === undefined) return equalConstantTime('', token);
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return equalConstantTime(colon === -1 ? '' : decoded.slice(colon + 1), token);
}
