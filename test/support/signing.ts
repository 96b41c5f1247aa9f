// Signing keys made in the test, for `verify`: an ssh key (ssh-keygen, always there with
// openssh-client) and an OpenPGP key (gpg, skipped cleanly where gnupg is absent). Each signer
// gives the RemoteRepo.signing settings that make the developer's commits and annotated tags
// signed, and the file the listing's `verify` names.

import { execFile, execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cleanup } from './tmp.js';

export interface Signer {
  /** For RemoteRepo.signing: every commit and annotated tag signed with this key. */
  signing: { config: string[]; env: Record<string, string> };
  /** The line (ssh: an allowed-signers line) or armored block (OpenPGP) that trusts this key. */
  trust: string;
}

const signAll = ['-c', 'commit.gpgSign=true', '-c', 'tag.gpgSign=true'];

function run(cmd: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
    if (input !== undefined) child.stdin?.end(input);
  });
}

export async function sshSigner(dir: string, name: string): Promise<Signer> {
  await mkdir(dir, { recursive: true });
  const key = join(dir, `${name}_ed25519`);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
  const pub = (await readFile(`${key}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  return { signing: { config: ['-c', 'gpg.format=ssh', '-c', `user.signingKey=${key}`, ...signAll], env: {} }, trust: `${name}@example.test ${pub}` };
}

export const gpgAvailable = (() => {
  try {
    execFileSync('gpg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** An OpenPGP key in a GnuPG home of its own; the gpg-agent that signing starts is killed by pid when the test ends. */
export async function gpgSigner(t: Cleanup, dir: string, name: string): Promise<Signer> {
  const home = join(dir, `gnupg-${name}`);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  const uid = `${name} <${name}@example.test>`;
  await run('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], env);
  // gpg started its agent (signing needs one): stop exactly that process when the test ends.
  const pid = Number(/^D (\d+)$/m.exec(await run('gpg-connect-agent', ['getinfo pid', '/bye'], env))?.[1]);
  if (Number.isInteger(pid) && pid > 0) {
    t.after(() => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    });
  }
  const fpr = /^fpr:+([0-9A-F]{40,64}):/m.exec(await run('gpg', ['--batch', '--with-colons', '--list-keys', uid], env))?.[1];
  if (fpr === undefined) throw new Error(`gpg made no key for ${uid}`);
  const armored = await run('gpg', ['--batch', '--armor', '--export', fpr], env);
  return { signing: { config: ['-c', 'gpg.format=openpgp', '-c', `user.signingKey=${fpr}`, ...signAll], env }, trust: armored };
}

/** Write the trust of `signers` to `file` (ssh: allowed-signers lines; OpenPGP: armored keys one after another). */
export async function writeTrust(file: string, signers: Signer[]): Promise<void> {
  await writeFile(file, signers.map((s) => s.trust.trim()).join('\n') + '\n');
}
