// Turns an entry's credential files into the environment git needs for one attempt. Files are
// read on every attempt, so a rotated key or token works without a restart; secrets reach git
// only through files (a private key copy, an askpass helper), never argv or the environment.

import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { registerSecret } from '../shared/redact.js';

const ASKPASS = fileURLToPath(new URL('../../libexec/git-askpass', import.meta.url));

// Keepalives notice a dead connection; BatchMode makes ssh fail instead of prompting.
const SSH_BASE = ['ssh', '-o BatchMode=yes', '-o ServerAliveInterval=10', '-o ServerAliveCountMax=3', '-o ConnectTimeout=20'];

async function readSecretFile(field: string, file: string): Promise<string> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    throw new SyncError('config', `"${field}" ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!info.isFile()) throw new SyncError('config', `"${field}" ${file}: is not a regular file`);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new SyncError('config', `"${field}" ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function shellQuote(path: string): string {
  // Paths are validated to hold no single quote, so plain single-quoting is exact.
  return `'${path}'`;
}

export interface Credentials {
  /** Environment for git: GIT_SSH_COMMAND or the askpass wiring. */
  env: Record<string, string>;
  /** For the in-process http probe; null without http credentials. */
  httpAuth: { username: string; password: string } | null;
}

export async function loadCredentials(entry: ResolvedEntry, secretsDir: string): Promise<Credentials> {
  const httpAuth = await readHttpAuth(entry);
  return { env: await credentialEnv(entry, secretsDir, httpAuth !== null), httpAuth };
}

async function readHttpAuth(entry: ResolvedEntry): Promise<Credentials['httpAuth']> {
  const c = entry.credentials;
  if (c.usernameFile === undefined || c.passwordFile === undefined) return null;
  const username = (await readSecretFile('usernameFile', c.usernameFile)).split('\n')[0] ?? '';
  const password = (await readSecretFile('passwordFile', c.passwordFile)).split('\n')[0] ?? '';
  if (username.trim() === '') throw new SyncError('config', `"usernameFile" ${c.usernameFile}: is empty`);
  if (password.trim() === '') throw new SyncError('config', `"passwordFile" ${c.passwordFile}: is empty`);
  registerSecret(password);
  return { username, password };
}

async function credentialEnv(entry: ResolvedEntry, secretsDir: string, hasHttpAuth: boolean): Promise<Record<string, string>> {
  const c = entry.credentials;
  if (entry.transport === 'ssh') {
    if (c.sshKeyFile === undefined && c.knownHostsFile === undefined) {
      // No credentials in the listing: the environment's own ssh setup applies, as in the original.
      const inherited = process.env.GIT_SSH_COMMAND;
      return { GIT_SSH_COMMAND: inherited ?? SSH_BASE.join(' ') };
    }
    const parts = [...SSH_BASE, '-o StrictHostKeyChecking=yes'];
    if (c.sshKeyFile !== undefined) {
      const key = await readSecretFile('sshKeyFile', c.sshKeyFile);
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
        throw new SyncError('config', `"sshKeyFile" ${c.sshKeyFile}: does not hold a private key`);
      }
      // ssh refuses keys readable by others, and mounted secrets are often 0644 and owned by
      // someone else: use a private copy, replaced atomically each attempt.
      const copy = join(secretsDir, 'ssh-key');
      const content = key.endsWith('\n') ? key : `${key}\n`;
      // Rewritten only when the mounted key changed: an unchanged poll writes nothing.
      if ((await readFile(copy, 'utf8').catch(() => null)) !== content) {
        await mkdir(secretsDir, { recursive: true, mode: 0o700 });
        const tmp = `${copy}.${process.pid}.tmp`;
        await writeFile(tmp, content, { mode: 0o600 });
        await chmod(tmp, 0o600);
        await rename(tmp, copy);
      }
      parts.push(`-i ${shellQuote(copy)}`, '-o IdentitiesOnly=yes');
    }
    if (c.knownHostsFile !== undefined) {
      await readSecretFile('knownHostsFile', c.knownHostsFile);
      parts.push(`-o UserKnownHostsFile=${shellQuote(c.knownHostsFile)}`, '-o GlobalKnownHostsFile=/dev/null');
    }
    return { GIT_SSH_COMMAND: parts.join(' ') };
  }
  if (hasHttpAuth && c.usernameFile !== undefined && c.passwordFile !== undefined) {
    return {
      GIT_ASKPASS: ASKPASS,
      GIT_AUTOSYNC_USERNAME_FILE: c.usernameFile,
      GIT_AUTOSYNC_PASSWORD_FILE: c.passwordFile,
    };
  }
  return {};
}
