// Several ssh keys per entry (sshKeys): a deploy key for the repo's host and another for a
// submodule host, each offered only to its own host, host keys checked strictly. Two real sshd.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { git, RemoteRepo } from '../support/git-repo.js';
import { readPublishedFile, stateDirOf } from '../support/published.js';
import { startSshd } from '../support/sshd.js';
import { makeTempDir } from '../support/tmp.js';

test('sshKeys: the repo host and a submodule host each get their own key, and only theirs', async (t) => {
  const root = await makeTempDir(t);
  const rootA = join(root, 'host-a');
  const rootB = join(root, 'host-b');
  const repoHost = await startSshd(t, rootA);
  const moduleHost = await startSshd(t, rootB);
  // ssh tells Host blocks apart by name, not port: the submodule host is reached as "localhost".
  const moduleUrl = `ssh://${moduleHost.user}@localhost:${moduleHost.port}${rootB}/lib.git`;
  const knownHosts = join(root, 'known_hosts');
  await writeFile(knownHosts, (await readFile(repoHost.knownHostsPath, 'utf8')) + (await readFile(moduleHost.knownHostsPath, 'utf8')).replace('[127.0.0.1]', '[localhost]'));
  // The submodule host would also let the repo's key in: only the ssh config keeps it from being offered there.
  await appendFile(join(dirname(moduleHost.clientKeyPath), 'authorized_keys'), await readFile(`${repoHost.clientKeyPath}.pub`));

  const lib = await RemoteRepo.create(rootB, 'lib');
  await lib.commit({ 'lib.txt': 'lib from host b\n' });
  const app = await RemoteRepo.create(rootA, 'app');
  await app.commit({ 'app.txt': 'app\n' });
  await git(app.workDir, ['-c', 'protocol.file.allow=always', 'submodule', 'add', '--quiet', lib.bareDir, 'lib']);
  await git(app.workDir, ['config', '-f', '.gitmodules', 'submodule.lib.url', moduleUrl]);
  const head = await app.commit({}, 'submodule on another ssh host');

  const both = join(root, 'data', 'both');
  const agent = await startAgent(t, {
    path: both,
    repo: repoHost.url('app'),
    branch: 'main',
    knownHostsFile: knownHosts,
    sshKeys: [
      { host: '127.0.0.1', keyFile: repoHost.clientKeyPath },
      { host: 'localhost', keyFile: moduleHost.clientKeyPath },
    ],
  });
  await agent.waitForMessage('synced', (m) => m.commit === head, 60_000);
  assert.equal(readPublishedFile(both, 'lib/lib.txt'), 'lib from host b\n');
  assert.equal(readPublishedFile(both, 'app.txt'), 'app\n');
  const config = readFileSync(join(stateDirOf(both), 'secrets', 'ssh-config'), 'utf8');
  assert.match(config, /^Host 127\.0\.0\.1\n {2}IdentityFile "[^"]*\/ssh-key-0"\nHost localhost\n {2}IdentityFile "[^"]*\/ssh-key-1"\nHost \*\n {2}IdentitiesOnly yes\n {2}IdentityFile none\n$/m);

  // Only the repo host's key: the submodule host, which would accept that key, is never offered it.
  const one = join(root, 'data', 'one');
  const single = await startAgent(t, {
    path: one,
    repo: repoHost.url('app'),
    branch: 'main',
    knownHostsFile: knownHosts,
    sshKeys: [{ host: '127.0.0.1', keyFile: repoHost.clientKeyPath }],
  });
  const failed = await single.waitForMessage('failed', undefined, 60_000);
  assert.equal(failed.error.kind, 'auth', failed.error.message);
  assert.match(failed.error.message, /Permission denied \(publickey\)/);
  assert.equal(readPublishedFile(one, 'app.txt'), null, 'nothing half-synced is published');
});
