// `git daemon` serving every bare repo under a folder over git:// on 127.0.0.1.
import { fixtureGitEnv } from './git-repo.js';
import { startServerProcess } from './process.js';
import type { Cleanup } from './tmp.js';

/** What every test git server offers, whatever its transport. */
export interface GitServer {
  readonly port: number;
  readonly pid: number;
  url(repoName: string): string;
  stop(): Promise<void>;
}

/** `env`: more for the daemon and the upload-pack it runs (a hostile remote's config, say). */
export async function startGitDaemon(t: Cleanup, serveRoot: string, env: NodeJS.ProcessEnv = {}): Promise<GitServer> {
  const server = await startServerProcess(t, {
    name: 'git daemon',
    command: 'git',
    args: (port) => [
      'daemon',
      // Not --detach: we need the pid of the process that listens, to stop it.
      '--reuseaddr',
      '--listen=127.0.0.1',
      `--port=${port}`,
      `--base-path=${serveRoot}`,
      '--export-all',
      // "no such repository" instead of a bare "access denied", for readable failures.
      '--informative-errors',
      // --verbose prints "Ready to rumble" once listening, and logs each request.
      '--verbose',
      // Refuse anything outside serveRoot even if a path escapes --base-path.
      serveRoot,
    ],
    readyText: () => 'Ready to rumble',
    env: { ...process.env, ...fixtureGitEnv, ...env },
  });
  return {
    port: server.port,
    pid: server.pid,
    url: (repoName) => `git://127.0.0.1:${server.port}/${repoName}.git`,
    stop: server.stop,
  };
}
