// Deleting a removed entry's published tree and git state, when asked to (`prune`). Only what
// git-autosync provably made is deleted: our own symlink (or, in exchange mode, the directory the
// tree record names) and state folder, or an in-place clone that carries our marker.

import { readlink, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { entryLayout, linkTarget, OWNER_MARKER, readStoreMembers } from '../shared/layout.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import { recordedCommitAt } from '../shared/tree-record.js';

export async function pruneEntry(entry: ResolvedEntry): Promise<string[]> {
  const layout = entryLayout(entry);
  const removed: string[] = [];
  if (entry.publish !== 'in-place') {
    const target = await readlink(layout.path).catch(() => null);
    if (target !== null && target.startsWith(linkTarget(layout, ''))) {
      await unlink(layout.path);
      removed.push(layout.path);
    } else if ((await recordedCommitAt(layout, layout.path)) !== null) {
      // Exchange mode: a directory is ours only when the tree record names it.
      await rm(layout.path, { recursive: true, force: true });
      removed.push(layout.path);
    }
    if (await exists(layout.stateDir)) {
      await rm(layout.stateDir, { recursive: true, force: true });
      removed.push(layout.stateDir);
    }
    if (entry.store !== null && !(await storeHasMembers(entry.store.dir))) {
      await rm(entry.store.dir, { recursive: true, force: true });
      await rm(`${entry.store.dir}.lock`, { force: true });
      removed.push(entry.store.dir);
    }
  } else if (await exists(join(layout.stateDir, OWNER_MARKER))) {
    await rm(layout.path, { recursive: true, force: true });
    removed.push(layout.path);
  }
  return removed;
}

/**
 * True while an entry that fetched into the store still has its state folder. The last entry
 * pruned takes the store with it; otherwise the remaining agents drop the pruned entry's ref.
 */
async function storeHasMembers(store: string): Promise<boolean> {
  for (const { stateDir } of (await readStoreMembers(store)).values()) {
    if (stateDir.startsWith('/') && (await exists(stateDir))) return true;
  }
  return false;
}

const exists = (p: string) => stat(p).then(() => true, () => false);
