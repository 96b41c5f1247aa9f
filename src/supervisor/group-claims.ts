// The listing checks that groups need across entries: one group, one parent folder (the link
// readers open); that folder holds nothing but the group's members, and lies inside SYNC_ROOT.

import { dirname } from 'node:path';
import { EntryError, type ResolvedEntry } from '../shared/listing-schema.js';
import { isInside } from '../shared/paths.js';

interface Candidate {
  index: number;
  entry: ResolvedEntry;
}

/**
 * Split `entries` (valid one by one, in listing order) into those kept and one error per refused
 * entry, naming the field: `group` for a member whose folder disagrees with its group's, `path`
 * for an entry inside a group's folder that is not a member. The first member of a group (in
 * listing order) decides its folder.
 */
export function checkGroups<C extends Candidate>(entries: readonly C[], syncRoot: string | undefined): { kept: C[]; errors: EntryError[] } {
  const errors: EntryError[] = [];
  const folderOf = new Map<string, { folder: string; index: number }>();
  const groupAt = new Map<string, string>();
  const names = new Set(entries.map((c) => c.entry.name));
  const members: C[] = [];
  const refuse = (c: C, field: string, reason: string) => errors.push(new EntryError(c.index, c.entry.name, field, reason));
  for (const c of entries) {
    const group = c.entry.group;
    if (group === null) continue;
    const folder = dirname(c.entry.path);
    const first = folderOf.get(group.name);
    if (names.has(group.name)) refuse(c, 'group', `"${group.name}" is also an entry's name; /status/{name} and /readyz/{name} would not know which is meant. Choose another group name`);
    else if (folder === '/' || (syncRoot !== undefined && !isInside(syncRoot, folder))) {
      // The folder itself becomes a symlink: it cannot be the root, and its own folder must be ours to write in.
      refuse(c, 'group', `needs its folder ${folder} (the group's link) strictly inside ${syncRoot === undefined ? '/' : `SYNC_ROOT (${syncRoot})`}; put the members one folder deeper`);
    } else if (first !== undefined && first.folder !== folder) {
      refuse(c, 'group', `"${group.name}" publishes ${first.folder} (entry #${first.index + 1}); the members of one group share one parent folder, but this path's is ${folder}`);
    } else if (first === undefined && groupAt.has(folder)) {
      refuse(c, 'group', `${folder} is already group "${groupAt.get(folder)}"'s folder; one folder is one group`);
    } else {
      if (first === undefined) {
        folderOf.set(group.name, { folder, index: c.index });
        groupAt.set(folder, group.name);
      }
      members.push(c);
      continue;
    }
  }
  const refused = new Set(errors.map((e) => e.index));
  const kept: C[] = [];
  for (const c of entries) {
    if (refused.has(c.index)) continue;
    if (c.entry.group === null) {
      // Inside a group's folder, or that folder itself: it would be written through the group's link.
      const folder = [...groupAt.keys()].find((f) => c.entry.path === f || isInside(f, c.entry.path));
      if (folder !== undefined) {
        refuse(c, 'path', `${c.entry.path} is inside group "${groupAt.get(folder)}"'s folder ${folder}; only that group's members publish there (add "group": "${groupAt.get(folder)}")`);
        continue;
      }
    }
    kept.push(c);
  }
  return { kept, errors };
}
