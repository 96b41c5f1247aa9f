// Turns an entry's credential files into the environment git needs for one attempt. Files are
// read on every attempt, so a rotated key or token works without a restart; secrets reach git
// only through files (a private key copy, an askpass helper), never argv or the environment.

import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { registerSecret } from '../shared/redact.js';
import { httpFiles, type HttpFiles } from './http-sources.js';

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
  const files = entry.transport === 'https' || entry.transport === 'http' ? await httpFiles(entry) : null;
  const httpAuth = files === null ? null : await readHttpAuth(files);
  const env = await credentialEnv(entry, secretsDir, files);
  if (entry.transport === 'ssh') Object.assign(env, await passwdEntryEnv(secretsDir));
  return { env, httpAuth };
}

const NSS_WRAPPER = ['/usr/lib/x86_64-linux-gnu/libnss_wrapper.so', '/usr/lib/aarch64-linux-gnu/libnss_wrapper.so', '/usr/lib64/libnss_wrapper.so', '/usr/lib/libnss_wrapper.so'];

/**
 * ssh refuses to run for a UID that has no passwd entry ("No user exists for uid"), which is the
 * norm under OpenShift's arbitrary UIDs. Rather than write /etc/passwd (git-sync's --add-user
 * needs it writable), give ssh a passwd file of its own through nss_wrapper.
 */
async function passwdEntryEnv(secretsDir: string): Promise<Record<string, string>> {
  try {
    userInfo();
    return {}; // the UID has an entry: nothing to do
  } catch {
    // no entry: fall through
  }
  const lib = NSS_WRAPPER.find((p) => existsSync(p));
  if (lib === undefined) return {}; // ssh will say "No user exists for uid"; the docs say what to install
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const passwd = join(secretsDir, 'passwd');
  const line = `git-autosync:x:${uid}:${gid}:git-autosync:${process.env.HOME ?? secretsDir}:/bin/sh\n`;
  if ((await readFile(passwd, 'utf8').catch(() => null)) !== line) {
    await mkdir(secretsDir, { recursive: true, mode: 0o700 });
    await writeFile(passwd, line, { mode: 0o644 });
  }
  return { LD_PRELOAD: lib, NSS_WRAPPER_PASSWD: passwd, NSS_WRAPPER_GROUP: '/etc/group' };
}

async function readHttpAuth(c: HttpFiles): Promise<Credentials['httpAuth']> {
  const username = (await readSecretFile(c.field.username, c.usernameFile)).split('\n')[0] ?? '';
  const password = (await readSecretFile(c.field.password, c.passwordFile)).split('\n')[0] ?? '';
  if (username.trim() === '') throw new SyncError('config', `"${c.field.username}" ${c.usernameFile}: is empty`);
  if (password.trim() === '') throw new SyncError('config', `"${c.field.password}" ${c.passwordFile}: is empty`);
  registerSecret(password);
  return { username, password };
}

/**
 * ssh refuses keys readable by others, and mounted secrets are often 0644 and owned by someone
 * else: a private copy, replaced atomically when the mounted key changed.
 */
async function privateKeyCopy(field: string, file: string, secretsDir: string, name: string): Promise<string> {
  const key = await readSecretFile(field, file);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw new SyncError('config', `"${field}" ${file}: does not hold a private key`);
  }
  return writeIfChanged(secretsDir, name, key.endsWith('\n') ? key : `${key}\n`);
}

/** A 0600 file in the 0700 secrets folder, rewritten only when its content changed: an unchanged poll writes nothing. */
async function writeIfChanged(secretsDir: string, name: string, content: string): Promise<string> {
  const path = join(secretsDir, name);
  if ((await readFile(path, 'utf8').catch(() => null)) !== content) {
    await mkdir(secretsDir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, content, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  }
  return path;
}

async function credentialEnv(entry: ResolvedEntry, secretsDir: string, http: HttpFiles | null): Promise<Record<string, string>> {
  const c = entry.credentials;
  if (entry.transport === 'ssh') {
    if (c.sshKeyFile === undefined && c.knownHostsFile === undefined && c.sshKeys === undefined) {
      // No credentials in the listing: the environment's own ssh setup applies, as in the original.
      const inherited = process.env.GIT_SSH_COMMAND;
      return { GIT_SSH_COMMAND: inherited ?? SSH_BASE.join(' ') };
    }
    const parts = [...SSH_BASE, '-o StrictHostKeyChecking=yes'];
    if (c.sshKeyFile !== undefined) {
      const copy = await privateKeyCopy('sshKeyFile', c.sshKeyFile, secretsDir, 'ssh-key');
      parts.push(`-i ${shellQuote(copy)}`, '-o IdentitiesOnly=yes');
    }
    if (c.sshKeys !== undefined) {
      // One private ssh config: each key in the Host block of its host, so a submodule host is
      // never offered the repo's deploy key (nor the reverse); any other host gets no key at all
      // ("IdentityFile none" keeps ssh from trying ~/.ssh/id_*).
      const blocks: string[] = [];
      for (const [i, k] of c.sshKeys.entries()) {
        const copy = await privateKeyCopy(`sshKeys.${i}.keyFile`, k.keyFile, secretsDir, `ssh-key-${i}`);
        if (copy.includes('"')) throw new SyncError('config', `"path": the state folder ${secretsDir} must not contain a double quote (it goes into an ssh config)`);
        blocks.push(`Host ${k.host}\n  IdentityFile "${copy}"\n`);
      }
      blocks.push('Host *\n  IdentitiesOnly yes\n  IdentityFile none\n');
      const config = await writeIfChanged(secretsDir, 'ssh-config', `# Written by git-autosync from the entry's "sshKeys".\n${blocks.join('')}`);
      parts.push(`-F ${shellQuote(config)}`);
    }
    if (c.knownHostsFile !== undefined) {
      await readSecretFile('knownHostsFile', c.knownHostsFile);
      parts.push(`-o UserKnownHostsFile=${shellQuote(c.knownHostsFile)}`, '-o GlobalKnownHostsFile=/dev/null');
    }
    return { GIT_SSH_COMMAND: parts.join(' ') };
  }
  if (http !== null) {
    return {
      GIT_ASKPASS: ASKPASS,
      GIT_AUTOSYNC_USERNAME_FILE: http.usernameFile,
      GIT_AUTOSYNC_PASSWORD_FILE: http.passwordFile,
    };
  }
  return {};
}
