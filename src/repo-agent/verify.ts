// Signature verification before publish (`verify`): the fetched commit, and in tag modes the
// annotated tag, must carry a good signature by one of the listing's keys, checked by git itself
// (verify-commit / verify-tag). Never the user's keys: ssh signers come from the listing's file
// only, OpenPGP keys are imported into a GnuPG home of the entry's own, made for each check.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { redact } from '../shared/redact.js';
import { GitCommandError, lastLines, type GitRunner, type RunOptions } from './git.js';

type VerifySettings = NonNullable<ResolvedEntry['verify']>;

/** The key files as read for one sync; `digest` changes when either file does. */
export interface VerifyKeys {
  readonly settings: VerifySettings;
  readonly sshSigners: string | null;
  readonly gpgKeys: Buffer | null;
  readonly digest: string;
}

/** A commit that failed verification: never published, not retried until the remote or the keys change. */
export class UnverifiedError extends SyncError {
  constructor(
    readonly commit: string,
    message: string,
  ) {
    super('unverified', message);
  }
}

/** Read the key files now (every sync: a key added to a file needs no restart). */
export async function readVerifyKeys(settings: VerifySettings): Promise<VerifyKeys> {
  const read = async (field: 'sshAllowedSignersFile' | 'gpgKeysFile'): Promise<Buffer | null> => {
    const file = settings[field];
    if (file === undefined) return null;
    return readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new SyncError('config', `verify.${field} ${file} cannot be read (${err.code ?? err.message}); nothing is published until it can`, { cause: err });
    });
  };
  const ssh = await read('sshAllowedSignersFile');
  const gpg = await read('gpgKeysFile');
  // Only entries that verify load node:crypto: in every other agent it was 0.9 MB private
  // (measured alone with the agents' flags, bench/agent-memory.ts's method).
  const { createHash } = await import('node:crypto');
  const digest = createHash('sha256')
    .update(ssh === null ? '-' : `ssh:${ssh.length}:`)
    .update(ssh ?? '')
    .update(gpg === null ? '-' : `gpg:${gpg.length}:`)
    .update(gpg ?? '')
    .digest('hex');
  return { settings, sshSigners: ssh === null ? null : ssh.toString('utf8'), gpgKeys: gpg, digest };
}

/**
 * Check `commit`, fetched to `targetRef` of the repository `git` runs on, as `keys.settings.mode`
 * asks. Throws UnverifiedError when a signature is missing or not good; other failures (a
 * timeout, a damaged repository) are thrown as they are, so the commit is tried again.
 */
export async function verifyFetched(git: GitRunner, opts: RunOptions, keys: VerifyKeys, commit: string, targetRef: string, secretsDir: string): Promise<void> {
  const { mode } = keys.settings;
  const env = await verificationEnv(keys, secretsDir, opts.timeoutMs);
  const run = (args: string[]) => git.run(args, { ...opts, env });
  if (mode !== 'head') {
    // What the fetch wrote at our ref: the annotated tag object when the ref named one.
    const object = (await run(['rev-parse', '--verify', '--quiet', targetRef])).trim();
    const type = (await run(['cat-file', '-t', object])).trim();
    if (type !== 'tag') throw new UnverifiedError(commit, `verify.mode "${mode}" needs an annotated tag, but the ref points at a ${type} (${commit.slice(0, 12)}); nothing was published`);
    // A shared store's ref can move under us (another entry's fetch): check the tag we were given.
    const tagged = (await run(['rev-parse', '--verify', '--quiet', `${object}^{commit}`])).trim();
    if (tagged !== commit) throw new SyncError('local-state', `the fetched tag now points at ${tagged.slice(0, 12)}, not ${commit.slice(0, 12)}; trying again`);
    await check(run, ['verify-tag', object], commit, `tag ${object.slice(0, 12)} of commit ${commit.slice(0, 12)}`, keys);
  }
  if (mode !== 'tag') await check(run, ['verify-commit', commit], commit, `commit ${commit.slice(0, 12)}`, keys);
}

async function check(run: (args: string[]) => Promise<string>, args: string[], commit: string, what: string, keys: VerifyKeys): Promise<void> {
  try {
    await run(args);
  } catch (err) {
    // Exit 1 is git's "not a good signature" (none, unknown key, bad, expired); anything else
    // (a timeout, a missing object) is not a verdict on the commit.
    if (!(err instanceof GitCommandError) || err.exitCode !== 1) throw err;
    const files = [keys.sshSigners !== null && 'verify.sshAllowedSignersFile', keys.gpgKeys !== null && 'verify.gpgKeysFile'].filter((f) => f !== false).join(' or ');
    throw new UnverifiedError(commit, `${what} has no good signature by a key of ${files} (${lastLines(err.stderr)}); it is not published`);
  }
}

/**
 * The configuration and GnuPG home git verifies with. Every program and file is named here (set
 * through GIT_CONFIG_COUNT, above any global config), so a user's gpg.program, allowed signers
 * or keyring can play no part; a format without keys gets an empty file or keyring, and fails.
 */
async function verificationEnv(keys: VerifyKeys, secretsDir: string, timeoutMs: number): Promise<Record<string, string>> {
  await mkdir(secretsDir, { recursive: true, mode: 0o700 });
  let signers = '/dev/null';
  if (keys.sshSigners !== null) {
    // The very text that was hashed, not the file again: what is checked is what was read.
    signers = join(secretsDir, 'allowed_signers');
    await writeFile(signers, keys.sshSigners, { mode: 0o600 });
  }
  const home = join(secretsDir, 'gnupg');
  await makeGnupgHome(home, keys.gpgKeys, timeoutMs);
  const config: Array<[string, string]> = [
    ['gpg.program', 'gpg'],
    ['gpg.openpgp.program', 'gpg'],
    ['gpg.x509.program', 'gpgsm'],
    ['gpg.ssh.program', 'ssh-keygen'],
    ['gpg.ssh.allowedSignersFile', signers],
    // A revocation list of the user's would be read from their home; ours has none.
    ['gpg.ssh.revocationFile', '/dev/null'],
  ];
  const env: Record<string, string> = { GIT_CONFIG_COUNT: String(config.length), GNUPGHOME: home };
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

/**
 * A fresh GnuPG home holding exactly the listing's public keys. `no-autostart`: neither import
 * nor verification needs gpg-agent or dirmngr, and without it gpg 2.2 leaves an agent daemon
 * running per home (measured: `gpg --import` started one).
 */
async function makeGnupgHome(home: string, keys: Buffer | null, timeoutMs: number): Promise<void> {
  await rm(home, { recursive: true, force: true });
  await mkdir(home, { mode: 0o700 });
  await writeFile(join(home, 'gpg.conf'), 'no-autostart\nno-auto-key-retrieve\n', { mode: 0o600 });
  if (keys === null) return;
  // execa, like the hooks, and loaded only here: an agent without OpenPGP keys never pays for it.
  const { execa } = await import('execa');
  const result = await execa('gpg', ['--batch', '--no-tty', '--quiet', '--homedir', home, '--import'], {
    input: keys,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    extendEnv: false,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    reject: false,
  });
  if (!result.failed) return;
  const notInstalled = (result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  const why = notInstalled ? 'gpg is not installed' : result.timedOut ? `timed out after ${timeoutMs} ms` : lastLines(redact(String(result.stderr)));
  throw new SyncError('config', `verify.gpgKeysFile: gpg could not import its keys (${why})`);
}
