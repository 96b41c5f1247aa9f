// Credentials fetched from an http(s) endpoint on every attempt (git-sync's --askpass-url): a
// Vault agent or a workload-identity sidecar answering "username=…" and "password=…" lines. The
// answer is written to 0600 files in the daemon's private runtime folder (tmpfs), from which git's
// helper reads it like any password file; it never reaches argv, the environment or a log.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { redact, registerSecret } from '../shared/redact.js';
import { runtimeDir, writePrivateFile } from '../shared/runtime-dir.js';

/** Short: the endpoint is local (a sidecar), and a sync waits for it. */
export const ASKPASS_TIMEOUT_MS = 5_000;

export async function fetchAskpassFiles(entry: ResolvedEntry, url: string): Promise<{ usernameFile: string; passwordFile: string }> {
  const where = `"askpassUrl" ${redact(url)}`;
  let res: Response;
  try {
    // No redirects: the endpoint is named in the listing, and nowhere else is asked.
    res = await fetch(url, { headers: { accept: 'text/plain' }, redirect: 'error', signal: AbortSignal.timeout(ASKPASS_TIMEOUT_MS) });
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') throw new SyncError('timeout', `${where}: no answer within ${ASKPASS_TIMEOUT_MS / 1000}s`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new SyncError('network', `${where}: cannot be reached (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
  const text = (await res.text().catch(() => '')).slice(0, 64 * 1024);
  if (res.status !== 200) throw new SyncError('auth', `${where}: answered ${res.status} instead of credentials`);
  let username: string | undefined;
  let password: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('username=')) username = line.slice('username='.length);
    else if (line.startsWith('password=')) password = line.slice('password='.length);
  }
  if (password === undefined || password === '') throw new SyncError('auth', `${where}: the answer has no "password=" line`);
  registerSecret(password);
  if (username === undefined || username === '') throw new SyncError('auth', `${where}: the answer has no "username=" line`);
  const dir = join(runtimeDir(), `askpass-${createHash('sha256').update(entry.path).digest('hex').slice(0, 16)}`);
  return {
    usernameFile: await writePrivateFile(dir, 'username', `${username}\n`),
    passwordFile: await writePrivateFile(dir, 'password', `${password}\n`),
  };
}
