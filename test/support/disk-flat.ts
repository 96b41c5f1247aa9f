// The 200-sync disk test, run per publish mode: each mode's in its own test file, since one run
// takes minutes on a loaded machine and a file has a time budget (test/run.mjs).

import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent } from './agent.js';
import { startGitDaemon } from './git-daemon.js';
import { RemoteRepo } from './git-repo.js';
import { stateDirOf, worktreesOnDisk } from './published.js';
import { makeTempDir, waitFor } from './tmp.js';

const readdirSafe = (dir: string) => {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
};

type TestContext = Parameters<typeof makeTempDir>[0] & { diagnostic(message: string): void };

/** 200 pushes, each synced; the state folder (plus, in exchange mode, `path`) sampled every 50 must not grow. */
export async function assertDiskFlatOver200Syncs(t: TestContext, publish: 'symlink' | 'exchange'): Promise<void> {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const repo = await RemoteRepo.create(serveRoot, 'flat');
  const files = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, `${i}\n`.repeat(100)]));
  await repo.commit(files);
  const daemon = await startGitDaemon(t, serveRoot);
  const path = join(root, 'data', 'flat');
  const agent = await startAgent(t, { path, repo: daemon.url('flat'), branch: 'main', interval: 100, staleAfter: 0, publish });
  // The agent keeps running while we walk: a folder it removes meanwhile (git prunes
  // repo.git/worktrees when none is left) counts as empty, not as an error.
  const du = (dir: string): number =>
    readdirSafe(dir).reduce((n, d) => {
      const p = join(dir, d.name);
      return n + (d.isDirectory() ? du(p) : d.isFile() ? Math.ceil((statSync(p, { throwIfNoEntry: false })?.size ?? 0) / 4096) * 4096 : 0);
    }, 0);
  const sizes: number[] = [];
  for (let i = 1; i <= 200; i++) {
    const sha = await repo.commit({ 'counter.txt': `${i}\n`, [`f${i % 20}.txt`]: `${i}\n`.repeat(100) });
    await agent.waitForMessage('synced', (m) => m.commit === sha);
    if (i % 50 === 0) {
      // Exchange mode's published tree is `path` itself, outside the state folder.
      await waitFor(() => worktreesOnDisk(path).length === (publish === 'symlink' ? 1 : 0), { message: 'replaced trees removed' });
      sizes.push(du(stateDirOf(path)) + (publish === 'exchange' ? du(path) : 0));
    }
  }
  t.diagnostic(`state folder size after 50/100/150/200 syncs: ${sizes.map((s) => `${Math.round(s / 1024)} KiB`).join(', ')}`);
  // Without collection each sync adds ~16 KiB (4 loose objects): +2.4 MiB from sample 1 to 4.
  // Collected, the size only saw-tooths within the loose-object bound (~1 MiB).
  const spread = Math.max(...sizes) - Math.min(...sizes);
  assert.ok(spread < 1.2 * 1024 * 1024, `disk stays flat: ${sizes.join(', ')}`);
  assert.ok(sizes[3]! < sizes[0]! + 1.2 * 1024 * 1024, `no growth from 50 to 200 syncs: ${sizes.join(', ')}`);
  // Exchange mode's trees stop being worktrees once stripped: git's admin folders must not pile up.
  const adminDir = join(stateDirOf(path), 'repo.git', 'worktrees');
  // git removes the folder itself once no worktree is registered. Waited for: the last replaced
  // tree's admin folder goes a moment after the tree itself (CI saw two, symlink mode).
  const admins = () => readdirSafe(adminDir).filter((d) => d.isDirectory()).map((d) => d.name);
  await waitFor(() => admins().length <= 1, { message: () => `worktree admin folders left: ${admins().join(', ')}` });
}
