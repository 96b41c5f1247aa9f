// Which entries share one object store: those in the same folder that fetch the same remote the
// same way (depth, filter, gc and file-mode policy, transport). One fetch then serves every
// branch of that remote and disk holds each object once; the agents stay separate processes.

import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { remoteIdentity } from '../shared/ref-and-url.js';
import type { ResolvedEntry, SharedStore } from '../shared/listing-schema.js';
import { STORES_DIR } from '../shared/layout.js';


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
export function assignStores(entries: ResolvedEntry[], enabled: boolean, exists: (dir: string) => boolean = existsSync): Array<SharedStore | null> {
  if (!enabled) return entries.map(() => null);
  const groups = new Map<string, number[]>();
  entries.forEach((e, i) => {
    const key = groupKey(e);
    if (key !== null) groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const stores: Array<SharedStore | null> = entries.map(() => null);
  for (const [key, members] of groups) {
    const first = entries[members[0]!]!;
    const dir = storeDir(first, key);
    if (members.length < 2 && !exists(dir)) continue;
    for (const i of members) stores[i] = { dir, url: first.repo };
  }
  return stores;
}
