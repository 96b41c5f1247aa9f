// Two loopback smart-HTTP origins for the credential-scope tests (issue #13): origin A serves an
// app whose submodule lives on origin B (another port, so another origin), and the files that
// hold an origin's user name and password. Each server records every Authorization header.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, RemoteRepo } from './git-repo.js';
import { startHttpGitServer, type HttpGitServer } from './http-server.js';
import { makeTempDir, type Cleanup } from './tmp.js';

/** The Authorization header that carries this server's own credential. */
export const basicAuth = (s: HttpGitServer): string => `Basic ${Buffer.from(`${s.username}:${s.password}`).toString('base64')}`;

/** `<name>-user` and `<name>-pass` in `root`, holding the server's user name and password. */
export async function credentialFiles(root: string, name: string, s: HttpGitServer): Promise<{ usernameFile: string; passwordFile: string }> {
  const usernameFile = join(root, `${name}-user`);
  const passwordFile = join(root, `${name}-pass`);
  await writeFile(usernameFile, `${s.username}\n`);
  await writeFile(passwordFile, `${s.password}\n`);
  return { usernameFile, passwordFile };
}

/** Origin A serves `app`, whose submodule `lib` lives on origin B under `libPath`, by absolute URL. */
export async function crossOriginSubmodule(t: Cleanup, libPath = 'lib') {
  const root = await makeTempDir(t);
  const rootA = join(root, 'a');
  const rootB = join(root, 'b');
  const lib = await RemoteRepo.create(rootB, libPath);
  await lib.commit({ 'lib.txt': 'lib from b\n' });
  const app = await RemoteRepo.create(rootA, 'app');
  await app.commit({ 'app.txt': 'app\n' });
  const a = await startHttpGitServer(t, rootA, { password: 'pw-origin-a-1234' });
  const b = await startHttpGitServer(t, rootB, { username: 'b-user', password: 'pw-origin-b-5678' });
  await git(app.workDir, ['-c', 'protocol.file.allow=always', 'submodule', 'add', '--quiet', lib.bareDir, 'lib']);
  await git(app.workDir, ['config', '-f', '.gitmodules', 'submodule.lib.url', b.url(libPath)]);
  const head = await app.commit({}, 'submodule on another origin');
  return { root, a, b, head, path: join(root, 'data', 'app') };
}
