import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { isAlive } from '../support/fault-git.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { makeTempDir, waitFor, type Cleanup } from '../support/tmp.js';

interface EntryStatus {
  state: string;
  pid: number | null;
  publishedCommit: string | null;
  consecutiveFailures: number;
  lastError: { kind: string; message: string } | null;
}

async function status(d: RunningDaemon, name: string): Promise<EntryStatus> {
  const res = await fetch(`${await d.httpUrl()}/status/${name}`);
  return (await res.json()) as EntryStatus;
}

/** Agents of a daemon killed by SIGKILL are the test's to clean up, by pid. */
function killAtEnd(t: Cleanup, pids: number[]): void {
  t.after(() => {
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
}

for (const publish of ['symlink', 'in-place'] as const) {
  test(`two daemons on one volume (${publish}): the second leaves the first's entry alone, names its holder, and takes over when it dies`, async (t) => {
    const root = await makeTempDir(t);
    const serveRoot = join(root, 'remotes');
    const repo = await RemoteRepo.create(serveRoot, 'app');
    let head = await repo.commit({ 'v.txt': '0\n' });
    const server = await startGitDaemon(t, serveRoot);
    const listing = join(root, 'listing.json');
    await writeFile(listing, JSON.stringify([{ path: join(root, 'data', 'app'), repo: server.url('app'), branch: 'main', publish }]));
    const env = { LISTING_PATH: listing, SCRAPE_INTERVAL: '200' };

    const first = startDaemon(t, env);
    await first.waitForLog((l) => l.message === 'published' && l.commit === head, 'first daemon publishes', 60_000);
    const firstAgent = (await status(first, 'app')).pid;
    assert.ok(firstAgent !== null);
    killAtEnd(t, [firstAgent]);

    const second = startDaemon(t, env);
    const refused = await waitFor(
      async () => {
        const s = await status(second, 'app');
        // Before its listing is loaded the entry is not there yet (404 {error}).
        return typeof s.lastError?.kind === 'string' && s;
      },
      { timeoutMs: 120_000, message: "the second daemon's entry reports the lock" },
    );
    assert.equal(refused.lastError?.kind, 'local-state');
    assert.match(refused.lastError?.message ?? '', new RegExp(`locked by git-autosync agent pid ${firstAgent}\\b`));
    assert.equal(refused.publishedCommit, null, 'the second daemon never claims the entry');
    const secondAgent = refused.pid;
    if (secondAgent !== null) killAtEnd(t, [secondAgent]);

    // Both running: the first keeps publishing every push, undisturbed.
    for (let i = 1; i <= 3; i++) {
      head = await repo.commit({ 'v.txt': `${i}\n` });
      const h = head;
      await first.waitForLog((l) => l.message === 'published' && l.commit === h, `first daemon publishes push ${i}`, 60_000);
    }
    const firstStatus = await status(first, 'app');
    assert.equal(firstStatus.state, 'synced');
    assert.equal(firstStatus.consecutiveFailures, 0);
    assert.equal(firstStatus.lastError, null, "no failure in the first daemon's status");
    assert.deepEqual(first.lines.filter((l) => l.message === 'sync failed'), []);
    assert.deepEqual(second.lines.filter((l) => /leftover|stale git locks|published/.test(l.message)), [], 'the second daemon touched nothing');

    // kill -9 of the first daemon: its agent goes with it, and the second takes the entry over.
    await first.stop('SIGKILL');
    await waitFor(() => !isAlive(firstAgent), { timeoutMs: 30_000, message: "the first daemon's agent exits" });
    head = await repo.commit({ 'v.txt': 'after\n' });
    const h = head;
    await second.waitForLog((l) => l.message === 'published' && l.commit === h, 'the second daemon takes over and publishes', 90_000);
  });
}
