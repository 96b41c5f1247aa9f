// A commit is published only when its tree is complete as configured: a submodule that cannot be
// fetched fails the sync (the previous tree stays) and the same commit is retried until it can.
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent, type RunningAgent } from '../support/agent.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { git, RemoteRepo } from '../support/git-repo.js';
import { publishedCommit, readPublishedFile } from '../support/published.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

/** A super-repo published once without submodules, then a commit adding one whose repo is hidden. */
async function setup(t: Parameters<typeof makeTempDir>[0]) {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const lib = await RemoteRepo.create(serveRoot, 'lib');
  await lib.commit({ 'lib.txt': 'lib v1\n' });
  const app = await RemoteRepo.create(serveRoot, 'app');
  const first = await app.commit({ 'app.txt': 'app\n' });
  const daemon = await startGitDaemon(t, serveRoot);
  const hidden = join(serveRoot, 'lib-hidden.git');
  const addSubmodule = async () => {
    // A relative URL, resolved against the superproject's remote; then the repo goes away.
    await git(app.workDir, ['-c', 'protocol.file.allow=always', 'submodule', 'add', '--quiet', '../lib.git', 'lib']);
    await rename(lib.bareDir, hidden);
    return app.commit({}, 'add submodule');
  };
  return { root, first, url: daemon.url('app'), addSubmodule, restoreLib: () => rename(hidden, lib.bareDir) };
}

/** The first sync outcome the agent sent after index `from`, other than "still at `old`". */
function nextOutcome(agent: RunningAgent, from: number, old: string) {
  const still = (m: RunningAgent['messages'][number]) => m.type === 'unchanged' && m.commit === old;
  return waitFor(() => agent.messages.slice(from).find((m) => (m.type === 'failed' || m.type === 'synced' || m.type === 'unchanged') && !still(m)), {
    timeoutMs: 60_000,
    message: 'a sync outcome',
  });
}

for (const publish of ['symlink', 'in-place'] as const) {
  test(`a commit whose submodule cannot be fetched is not published, and is retried until complete (${publish})`, async (t) => {
    const { root, first, url, addSubmodule, restoreLib } = await setup(t);
    const path = join(root, 'data', 'app');
    const agent = await startAgent(t, { path, repo: url, branch: 'main', publish });
    await agent.waitForMessage('synced', (m) => m.commit === first);
    const from = agent.messages.length;
    const head = await addSubmodule();
    const failed = await nextOutcome(agent, from, first);
    assert.equal(failed.type, 'failed');
    assert.match(failed.type === 'failed' ? failed.error.message : '', /submodule/);
    // The retry of the same commit (the remote has not moved) fails again instead of publishing
    // an empty submodule folder, or calling the half-made tree "unchanged".
    const retried = await nextOutcome(agent, agent.messages.indexOf(failed) + 1, first);
    assert.equal(retried.type, 'failed', `the retry reported ${JSON.stringify(retried)}`);
    if (publish === 'symlink') {
      assert.equal(publishedCommit(path), first, 'the previous tree stays published');
      assert.equal(readPublishedFile(path, 'app.txt'), 'app\n');
    }
    // The submodule's repo appears; the super-repo never moves: the same commit now completes.
    await restoreLib();
    await agent.waitForMessage('synced', (m) => m.commit === head, 90_000);
    assert.equal(readPublishedFile(path, 'lib/lib.txt'), 'lib v1\n');
    if (publish === 'symlink') assert.equal(publishedCommit(path), head);
  });
}
