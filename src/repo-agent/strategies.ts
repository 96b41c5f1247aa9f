// The agent's two strategies, chosen once when it starts: where commits are fetched into (a
// Repository) and how they reach readers (a Publisher). Nothing else asks which mode it is in.

import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Layout } from '../shared/layout.js';
import type { Log } from '../shared/log.js';
import { Checkouts } from './checkout.js';
import type { EntryGit } from './entry-git.js';
import type { Holds } from './holds.js';
import type { Publisher } from './publishers/publisher.js';
import type { Repository } from './repositories/repository.js';
import type { Exclusive } from './retire.js';

export interface Strategies {
  repository: Repository;
  publisher: Publisher;
}

/**
 * Only the chosen strategies' modules are loaded, as with execa in hooks.ts: every loaded
 * module stays in each agent's private memory (bench/agent.ts, figure 4).
 * `exclusive`: runs a removal of replaced trees after everything queued before it (RepoSync's queue).
 * `holds`: the trees a group member must keep while its group's generations link them.
 */
export async function chooseStrategies(entry: ResolvedEntry, layout: Layout, log: Log, git: EntryGit, exclusive: Exclusive, holds: Holds): Promise<Strategies> {
  if (entry.publish === 'in-place') {
    // The clone at `path` is the repository; a shared store is for symlink entries only.
    const [{ CloneAtPath }, { InPlacePublisher }] = await Promise.all([import('./repositories/clone-at-path.js'), import('./publishers/in-place.js')]);
    const repository = new CloneAtPath(entry, layout, log, git);
    return { repository, publisher: new InPlacePublisher(layout, git, repository, new Checkouts(entry, git, repository)) };
  }
  const store = entry.store;
  const repository: Repository = store === null
    ? new (await import('./repositories/own.js')).OwnRepository(entry, layout, log, git)
    : new (await import('./repositories/shared-store.js')).SharedStoreRepository(entry, store, layout, log, git);
  const checkouts = new Checkouts(entry, git, repository);
  const { Retirement } = await import('./retire.js');
  if (entry.publish === 'exchange') {
    const { ExchangePublisher } = await import('./publishers/exchange.js');
    // Retirement has the publisher drop a tree from its record before deleting the tree.
    let publisher: InstanceType<typeof ExchangePublisher> | null = null;
    const retirement = new Retirement(entry, layout, log, git, repository, exclusive, async (c) => publisher?.forget(c));
    publisher = new ExchangePublisher(entry, layout, log, git, repository, checkouts, retirement);
    return { repository, publisher };
  }
  const { SymlinkPublisher } = await import('./publishers/symlink.js');
  // Only a group member's trees are ever held (its generations link them).
  const retirement = new Retirement(entry, layout, log, git, repository, exclusive, undefined, entry.group === null ? null : holds);
  return { repository, publisher: new SymlinkPublisher(entry, layout, log, git, repository, checkouts, retirement) };
}
