// The agent's two strategies, chosen once when it starts: where commits are fetched into (a
// Repository) and how they reach readers (a Publisher). Nothing else asks which mode it is in.

import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Layout } from '../shared/layout.js';
import type { Log } from '../shared/logger.js';
import { Checkouts } from './checkout.js';
import type { EntryGit } from './entry-git.js';
import { InPlacePublisher } from './publishers/in-place.js';
import type { Publisher } from './publishers/publisher.js';
import { SymlinkPublisher } from './publishers/symlink.js';
import { CloneAtPath } from './repositories/clone-at-path.js';
import { OwnRepository } from './repositories/own.js';
import type { Repository } from './repositories/repository.js';
import { SharedStoreRepository } from './repositories/shared-store.js';
import { Retirement, type Exclusive } from './retire.js';

export interface Strategies {
  repository: Repository;
  publisher: Publisher;
}

/** `exclusive`: runs a removal of replaced trees after everything queued before it (RepoSync's queue). */
export function chooseStrategies(entry: ResolvedEntry, layout: Layout, log: Log, git: EntryGit, exclusive: Exclusive): Strategies {
  if (entry.publish === 'in-place') {
    // The clone at `path` is the repository; a shared store is for symlink entries only.
    const repository = new CloneAtPath(entry, layout, log, git);
    return { repository, publisher: new InPlacePublisher(layout, git, repository, new Checkouts(entry, git, repository)) };
  }
  const repository = entry.store === null ? new OwnRepository(entry, layout, log, git) : new SharedStoreRepository(entry, entry.store, layout, log, git);
  const checkouts = new Checkouts(entry, git, repository);
  const retirement = new Retirement(entry, layout, log, git, repository, exclusive);
  return { repository, publisher: new SymlinkPublisher(entry, layout, log, git, repository, checkouts, retirement) };
}
