// Which entries share one object store: those in the same folder that fetch the same remote the
// same way (depth, filter, gc and file-mode policy, transport). One fetch then serves every
// branch of that remote and disk holds each object once; the agents stay separate processes.

import { readdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { remoteIdentity } from '../shared/ref-and-url.js';
import type { ResolvedEntry, SharedStore } from '../shared/listing-schema.js';
import { STORES_DIR } from '../shared/layout.js';
import { runSteps } from './steps.js';


/** What must be equal for two entries to fetch into one store. */
function groupKey(e: ResolvedEntry): string | null {
  // In-place entries keep their clone in the published folder itself: nothing to share.
  if (e.publish === 'in-place') return null;
  return JSON.stringify([dirname(e.path), remoteIdentity(e.repo), e.transport, e.depth, e.filter, e.gc, e.fileMode]);
}

function storeDir(e: ResolvedEntry, key: string): string {
  const slug = basename(remoteIdentity(e.repo)).replace(/[^A-Za-z0-9._-]/g, '_').replace(/\.{2,}/g, '.').replace(/^[.]+/, '').slice(0, 40) || 'repo';
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12);
  return join(dirname(e.path), STORES_DIR, `${slug}-${hash}.git`);
}

/**
 * The store each entry uses (null: its own repository). A store is used by a group of two or
 * more, and kept by a group shrunk to one while it exists on disk, so removing a branch does
 * not make the others fetch everything again.
 */
export function assignStores(entries: ResolvedEntry[], enabled: boolean, exists: (dir: string) => boolean = storesOnDisk()): Array<SharedStore | null> {
  return runSteps(assignStoresSteps(entries, enabled, exists));
}

/** Entries grouped between two yields of assignStoresSteps. */
const ENTRIES_PER_STEP = 64;

/** assignStores, yielding now and then so that a caller may let the event loop run (listing.ts). */
export function* assignStoresSteps(entries: ResolvedEntry[], enabled: boolean, exists: (dir: string) => boolean = storesOnDisk()): Generator<void, Array<SharedStore | null>> {
  if (!enabled) return entries.map(() => null);
  const groups = new Map<string, number[]>();
  for (const [i, e] of entries.entries()) {
    if (i % ENTRIES_PER_STEP === ENTRIES_PER_STEP - 1) yield;
    const key = groupKey(e);
    if (key === null) continue;
    const members = groups.get(key);
    // Appended in place: copying the group per member was quadratic in a folder of one remote's branches.
    if (members === undefined) groups.set(key, [i]);
    else members.push(i);
  }
  const stores: Array<SharedStore | null> = entries.map(() => null);
  let n = 0;
  for (const [key, members] of groups) {
    if (++n % ENTRIES_PER_STEP === 0) yield;
    const first = entries[members[0]!]!;
    const dir = storeDir(first, key);
    if (members.length < 2 && !exists(dir)) continue;
    for (const i of members) stores[i] = { dir, url: first.repo };
  }
  return stores;
}

/**
 * Whether a store folder exists, reading each stores folder once per listing: a stat per entry
 * (most entries are groups of one, asked whether a store is left on disk) was the largest part of
 * validating a 5,000-entry listing, synchronous, on the supervisor's one thread.
 */
function storesOnDisk(): (dir: string) => boolean {
  const byFolder = new Map<string, ReadonlySet<string>>();
  return (dir) => {
    const folder = dirname(dir);
    let names = byFolder.get(folder);
    if (names === undefined) {
      // Mostly there is no stores folder: a stat that does not throw, as a failed readdir would
      // (an exception per entry in its own folder was most of checking 5,000 such entries).
      try {
        names = statSync(folder, { throwIfNoEntry: false })?.isDirectory() === true ? new Set(readdirSync(folder)) : new Set();
      } catch {
        names = new Set();
      }
      byFolder.set(folder, names);
    }
    return names.has(basename(dir));
  };
}
