// Figure 3: push-to-published latency at a 1 s interval. Pushes land at random moments; each is
// timed from `git push` returning to the symlink naming the new commit (exchange mode: the
// directory at path holding the pushed counter.txt). The baseline is what a
// perfect poller could do: raw git's fetch + checkout of the change, plus one interval.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { GitServer } from '../../test/support/git-daemon.js';
import { git } from '../../test/support/git-repo.js';
import { makeTempDir } from '../../test/support/tmp.js';
import { launchAgent } from '../support/agent-process.js';
import { waitForPublished, type BenchMode } from '../support/link.js';
import { createSmallRepo } from '../support/repos.js';
import type { Scope } from '../support/scope.js';

export const LATENCY_INTERVAL_MS = 1000;

export interface LatencyResult {
  intervalMs: number;
  /** Push returned → link names the commit. */
  latencyMs: number[];
  /** The agent's synced.durationMs for the sync that brought each push in. */
  syncMs: number[];
  /** Raw git in an existing clone: fetch --depth 1 + checkout --detach of each change. */
  rawFetchCheckoutMs: number[];
  seed: number;
}

export async function benchLatency(parent: Scope, serveRoot: string, daemon: GitServer, pushes: number, random: () => number, seed: number, mode: BenchMode = 'symlink'): Promise<LatencyResult> {
  const scope = parent.child();
  try {
    const name = `latency-${mode}`;
    const { repo, sha: first } = await createSmallRepo(serveRoot, name);
    const url = daemon.url(name);
    const dir = await makeTempDir(scope, 'gas-bench-latency-');
    const path = join(dir, 'site');
    await git(dir, ['clone', '--quiet', '--depth', '1', '--branch', 'main', url, 'raw']);
    const rawDir = join(dir, 'raw');

    const agent = await launchAgent(scope, { path, repo: url, branch: 'main', interval: LATENCY_INTERVAL_MS, publish: mode });
    await waitForPublished(mode, path, { commit: first, file: null, content: '' }, 30_000);

    const latencyMs: number[] = [];
    const syncMs: number[] = [];
    const rawFetchCheckoutMs: number[] = [];
    for (let i = 0; i < pushes; i++) {
      await delay(Math.floor(random() * LATENCY_INTERVAL_MS));
      await writeFile(join(repo.workDir, 'counter.txt'), `push ${i}\n`);
      await git(repo.workDir, ['add', '--all']);
      await git(repo.workDir, ['commit', '--quiet', '--no-verify', '--message', `push ${i}`]);
      const sha = await git(repo.workDir, ['rev-parse', '--verify', 'HEAD']);
      await git(repo.workDir, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main']);
      const pushedAt = performance.now();
      const publishedAt = await waitForPublished(mode, path, { commit: sha, file: 'counter.txt', content: `push ${i}\n` }, 10 * LATENCY_INTERVAL_MS);
      latencyMs.push(publishedAt - pushedAt);
      syncMs.push((await agent.find('synced', { pred: (m) => m.commit === sha, timeoutMs: 5_000 })).message.durationMs);

      const rawStarted = performance.now();
      await git(rawDir, ['fetch', '--quiet', '--depth', '1', 'origin', 'main']);
      await git(rawDir, ['checkout', '--quiet', '--detach', 'FETCH_HEAD']);
      rawFetchCheckoutMs.push(performance.now() - rawStarted);
    }
    return { intervalMs: LATENCY_INTERVAL_MS, latencyMs, syncMs, rawFetchCheckoutMs, seed };
  } finally {
    await scope.close();
  }
}
