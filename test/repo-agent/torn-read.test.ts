import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { makeTempDir } from '../support/tmp.js';
import { startTornReader } from '../support/torn-reader.js';

// For each atomic mode: how a consumer resolves the path (a symlink's target; the directory itself).
for (const [publish, how] of [['symlink', 'realpath'], ['exchange', 'chdir']] as const) {
  test(`${publish}: a reader never sees a mix of two commits or a missing file while 50 commits are pushed quickly`, async (t) => {
    const root = await makeTempDir(t);
    const serveRoot = join(root, 'remotes');
    const remote = await RemoteRepo.create(serveRoot, 'app');
    const filler = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`filler/f${i}.txt`, `${i}\n`.repeat(200)]));
    await remote.commit({ 'a.txt': '0', 'sub/b.txt': '0', ...filler });
    const daemon = await startGitDaemon(t, serveRoot);
    const path = join(root, 'data', 'app');
    const agent = await startAgent(t, { path, repo: daemon.url('app'), branch: 'main', interval: 100, staleAfter: 2000, publish });
    await agent.waitForMessage('synced');

    const reader = startTornReader(t, path, join(root, 'stop-reader'), how);
    let last = '';
    for (let i = 1; i <= 50; i++) last = await remote.commit({ 'a.txt': String(i), 'sub/b.txt': String(i) });
    await agent.waitForMessage('synced', (m) => m.commit === last, 60_000);
    const result = await reader.stop();
    t.diagnostic(`reader: ${JSON.stringify(result)}`);
    assert.ok(result.reads > 100, `the reader was reading throughout (${result.reads} reads)`);
    assert.ok(result.distinct > 2, `the reader saw several commits published (${result.distinct})`);
    assert.equal(result.mismatches, 0, 'no torn reads');
    assert.equal(result.missing, 0, 'never a missing file');
    assert.equal(result.absent, 0, 'path always resolved');
    if (publish === 'exchange') assert.equal(result.notDirectory, 0, 'lstat(path) was a directory at every sample');
  });
}
