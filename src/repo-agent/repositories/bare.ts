// Opening a bare repository (our own, or a shared store while holding its lock): check it,
// re-create it when damaged, and bring its settings to the entry's.

import { appendFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../../shared/logger.js';
import type { EntryGit } from '../entry-git.js';
import type { GitRunner } from '../git.js';
import { configBlock, configureRemote } from '../repo-config.js';

export async function openBare(o: {
  git: EntryGit;
  gitDir: string;
  /** Runs git on the repository (made only once it exists: a runner needs its folder). */
  bare: () => GitRunner;
  /** Runs `git init` (outside the repository). */
  initFrom: GitRunner;
  wanted: Record<string, string | null>;
  /** Files of a damaged repository to keep (a new store's registrations); none: remove it whole. */
  keep: string[];
  log: Log;
}): Promise<void> {
  const { gitDir, bare, git } = o;
  const healthy = await stat(join(gitDir, 'HEAD')).then(
    () => bare().run(['rev-parse', '--is-bare-repository'], git.opts()).then((out) => out.trim() === 'true'),
    () => false,
  ).catch(() => false);
  if (healthy) {
    await configureRemote(bare(), o.wanted, git.opts()); // the entry may have changed since
    return;
  }
  const leftovers = o.keep.length === 0
    ? (await stat(gitDir).then(() => [gitDir], () => []))
    : (await readdir(gitDir).catch(() => [] as string[])).filter((n) => !o.keep.includes(n)).map((n) => join(gitDir, n));
  if (leftovers.length > 0) o.log.warn('git state is damaged; re-creating it', { gitDir });
  for (const p of leftovers) await rm(p, { recursive: true, force: true });
  // An empty template: no sample hooks to copy (measurable on slow disks), none to run.
  await o.initFrom.run(['init', '--bare', '--quiet', '--template=', gitDir], git.opts());
  // A fresh repository gets its settings in one write instead of one git process each.
  await appendFile(join(gitDir, 'config'), configBlock(o.wanted));
}
