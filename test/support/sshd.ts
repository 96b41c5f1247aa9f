// An OpenSSH server on 127.0.0.1 that lets one generated client key in, so tests can
// fetch over ssh:// with a real key and a strict known_hosts file.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GitServer } from './git-daemon.js';
import { startServerProcess } from './process.js';
import { makeTempDir, type Cleanup } from './tmp.js';

export interface SshServer extends GitServer {
  readonly clientKeyPath: string;
  readonly knownHostsPath: string;
  readonly user: string;
}

// sshd re-executes itself for each connection and refuses to start unless called by absolute path.
const sshdPath = '/usr/sbin/sshd';
const execFileAsync = promisify(execFile);

export async function startSshd(t: Cleanup, serveRoot: string): Promise<SshServer> {
  const dir = await makeTempDir(t, 'gas-sshd-');
  const hostKeyPath = join(dir, 'host_ed25519');
  const clientKeyPath = join(dir, 'client_ed25519');
  const authorizedKeysPath = join(dir, 'authorized_keys');
  const knownHostsPath = join(dir, 'known_hosts');
  const configPath = join(dir, 'sshd_config');
  const user = userInfo().username;

  await generateKey(hostKeyPath, 'test sshd host key');
  await generateKey(clientKeyPath, 'test client key');
  await writeFile(authorizedKeysPath, await readFile(`${clientKeyPath}.pub`), { mode: 0o600 });
  // sshd running as root chroots its pre-auth child into /run/sshd and will not start
  // without it; a fresh container has none (the init script normally creates it).
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const server = await startServerProcess(t, {
    name: 'sshd',
    command: sshdPath,
    args: async (port) => {
      await writeFile(configPath, sshdConfig({ port, dir, hostKeyPath, authorizedKeysPath }));
      // -D: stay in the foreground so we keep the pid; -e: log to stderr, where we read readiness.
      return ['-D', '-e', '-f', configPath];
    },
    readyText: (port) => `Server listening on 127.0.0.1 port ${port}.`,
  });

  const hostPublicKey = (await readFile(`${hostKeyPath}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  await writeFile(knownHostsPath, `[127.0.0.1]:${server.port} ${hostPublicKey}\n`);

  return {
    port: server.port,
    pid: server.pid,
    clientKeyPath,
    knownHostsPath,
    user,
    url: (repoName) => `ssh://${user}@127.0.0.1:${server.port}${serveRoot}/${repoName}.git`,
    stop: server.stop,
  };
}

/**
 * A GIT_SSH_COMMAND for this server: only its client key, only the given known_hosts
 * (default: the server's own), no prompts, and no user ssh config.
 */
export function sshCommandFor(server: SshServer, knownHostsPath = server.knownHostsPath): string {
  return [
    'ssh',
    '-F', '/dev/null',
    '-i', shellQuote(server.clientKeyPath),
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${shellQuote(knownHostsPath)}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
  ].join(' ');
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

async function generateKey(path: string, comment: string): Promise<void> {
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
}

function sshdConfig(o: { port: number; dir: string; hostKeyPath: string; authorizedKeysPath: string }): string {
  return `${[
    'ListenAddress 127.0.0.1',
    `Port ${o.port}`,
    `HostKey ${o.hostKeyPath}`,
    `PidFile ${join(o.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${o.authorizedKeysPath}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // Tests run as root in containers; keys only.
    'PermitRootLogin prohibit-password',
    // Our key files live in a temp dir whose parents sshd would otherwise reject as too open.
    'StrictModes no',
    // PAM would want a full login stack the sandbox does not have.
    'UsePAM no',
    // git sends GIT_PROTOCOL=version=2 through the ssh environment; without this, ssh is v0 only.
    'AcceptEnv GIT_PROTOCOL',
    // Like the other servers: the server-side git ignores the machine's and root's git config.
    'SetEnv GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null',
    // Parallel test clones open many connections at once; the default 10:30:100 drops some.
    'MaxStartups 100',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    'PermitTTY no',
    'LogLevel INFO',
  ].join('\n')}\n`;
}
