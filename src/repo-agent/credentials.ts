// Turns an entry's credential files into the environment git needs for one attempt. Files are
// read on every attempt, so a rotated key or token works without a restart; secrets reach git
// only through files (a private key copy, a credential helper that reads the mounted files),
// never argv or the environment. Every http(s) credential is bound to a scope (see
// shared/credential-scope.ts) and git is told its helper only for that scope, so a submodule or
// a redirect to another origin is never answered with it (issue #13).

import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyncError } from '../shared/errors.js';
import { bySpecificity, credentialFor, originScope, parseCredentialList, scopeMatches, type ScopedCredential } from '../shared/credential-scope.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { registerSecret } from '../shared/redact.js';
import { httpFiles } from './http-sources.js';

const HELPER = fileURLToPath(new URL('../../libexec/git-credential-autosync', import.meta.url));
/** Answers nothing, and says on stderr that the origin asking has no credential. */
const NO_CREDENTIAL_HELPER = fileURLToPath(new URL('../../libexec/git-credential-autosync-none', import.meta.url));

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
  /** Environment for git: GIT_SSH_COMMAND and the scoped credential helpers. */
  env: Record<string, string>;
  /** For the in-process http probe: the credential of the entry's own URL, and its scope; or null. */
  httpAuth: { username: string; password: string; scope: string } | null;
}

export async function loadCredentials(entry: ResolvedEntry, secretsDir: string): Promise<Credentials> {
  const scoped = await scopedCredentials(entry);
  const env = { ...(await sshEnv(entry, secretsDir)), ...helperEnv(scoped.map((s) => s.credential)) };
  if (entry.transport === 'ssh') Object.assign(env, await passwdEntryEnv(secretsDir));
  const own = credentialFor(scoped.map((s) => s.credential), entry.repo);
  const ownRead = own === null ? undefined : scoped.find((s) => s.credential === own);
  const httpAuth = ownRead === undefined ? null : { username: ownRead.username, password: ownRead.password, scope: own!.url };
  return { env, httpAuth };
}

/** The most credentials git is ever handed for one entry (the listing allows 32, and the daemon-wide file 32). */
export const MAX_HELPERS = 65;

/**
 * git's credential helpers, one per scope, through GIT_CONFIG_COUNT/KEY/VALUE (inherited by the
 * git processes of submodules; only file paths, never a secret). First `credential.helper=`
 * empties any list from system or global config (a `store` helper would write our secrets to
 * disk), then one `credential.<scope>.helper` per scope, most specific first: git's urlmatch keeps
 * a more specific entry and ignores less specific ones read after it, so the longest prefix wins.
 * Last, an unscoped helper that answers nothing: by the same rule it runs only for a URL no scope
 * matches, and says so, where git alone would say only "could not read Username".
 */
function helperEnv(list: ScopedCredential[]): Record<string, string> {
  const entries: Array<[string, string]> = [['credential.helper', '']];
  for (const c of bySpecificity(list).slice(0, MAX_HELPERS)) {
    // Paths are validated to hold no single quote or control character, so quoting is exact.
    entries.push([`credential.${c.url}.helper`, `!${shellQuote(HELPER)} ${shellQuote(c.usernameFile)} ${shellQuote(c.passwordFile)}`]);
  }
  entries.push(['credential.helper', `!${shellQuote(NO_CREDENTIAL_HELPER)}`]);
  const env: Record<string, string> = { GIT_CONFIG_COUNT: String(entries.length) };
  entries.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

interface ReadCredential {
  credential: ScopedCredential;
  username: string;
  password: string;
}

/**
 * Every http(s) credential this entry may use, read now: the listing's `credentials`, the entry's
 * own usernameFile/passwordFile bound to the origin of `repo`, then the daemon-wide
 * CREDENTIALS_FILE (re-read on every attempt). With one scope given twice, the first wins.
 */
async function scopedCredentials(entry: ResolvedEntry): Promise<ReadCredential[]> {
  const out: ReadCredential[] = [];
  const add = async (credential: ScopedCredential, field: (f: 'usernameFile' | 'passwordFile') => string) => {
    const { username, password } = await readUserPass(credential, field);
    out.push({ credential, username, password });
  };
  for (const [i, c] of (entry.credentials.scoped ?? []).entries()) await add(c, (f) => `credentials[${i}].${f}`);
  // The entry's own credential (its files, a minted GitHub App token, an askpass endpoint's
  // answer) is bound to the origin of `repo`, like any other.
  const origin = originScope(entry.repo);
  const own = origin === null || (entry.transport !== 'https' && entry.transport !== 'http') ? null : await httpFiles(entry);
  if (own !== null && origin !== null) {
    await add({ url: origin, usernameFile: own.usernameFile, passwordFile: own.passwordFile }, (f) => (f === 'usernameFile' ? own.field.username : own.field.password));
  }
  if (entry.credentialsFile !== undefined) {
    const file = entry.credentialsFile;
    let raw: unknown;
    try {
      raw = JSON.parse(await readSecretFile('CREDENTIALS_FILE', file));
    } catch (err) {
      if (err instanceof SyncError) throw err;
      throw new SyncError('config', `CREDENTIALS_FILE ${file}: is not valid JSON (${(err as Error).message})`);
    }
    const parsed = parseCredentialList(raw, 'CREDENTIALS_FILE');
    if ('errors' in parsed) throw new SyncError('config', `CREDENTIALS_FILE ${file}: ${parsed.errors.join('; ')}`);
    for (const [i, d] of parsed.list.entries()) {
      // A daemon-wide credential for other origins is read only by the entries that can use it
      // (their submodules included): one unreadable Secret does not fail every entry.
      try {
        await add(d, (f) => `CREDENTIALS_FILE[${i}].${f}`);
      } catch (err) {
        if (scopeMatches(d.url, entry.repo)) throw err;
      }
    }
  }
  return out;
}

async function readUserPass(c: ScopedCredential, field: (f: 'usernameFile' | 'passwordFile') => string): Promise<{ username: string; password: string }> {
  const username = (await readSecretFile(field('usernameFile'), c.usernameFile)).split('\n')[0] ?? '';
  const password = (await readSecretFile(field('passwordFile'), c.passwordFile)).split('\n')[0] ?? '';
  if (username.trim() === '') throw new SyncError('config', `"${field('usernameFile')}" ${c.usernameFile}: is empty`);
  if (password.trim() === '') throw new SyncError('config', `"${field('passwordFile')}" ${c.passwordFile}: is empty`);
  registerSecret(password, username);
  return { username, password };
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

async function sshEnv(entry: ResolvedEntry, secretsDir: string): Promise<Record<string, string>> {
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
  return {};
}
