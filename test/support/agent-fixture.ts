// The one-remote set-up most agent tests start from: a temp folder, one remote repository with
// a first commit, served by git daemon, and the `path` an entry publishes it at.

import { join } from 'node:path';
import { startGitDaemon } from './git-daemon.js';
import { RemoteRepo } from './git-repo.js';
import { makeTempDir } from './tmp.js';

export async function oneRemote(t: Parameters<typeof makeTempDir>[0], files: Record<string, string> = { 'version.txt': '1\n' }, name = 'app') {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const remote = await RemoteRepo.create(serveRoot, name);
  const first = await remote.commit(files);
  const daemon = await startGitDaemon(t, serveRoot);
  return { root, serveRoot, remote, first, daemon, url: daemon.url(name), path: join(root, 'data', name) };
}
