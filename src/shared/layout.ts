// Where an entry keeps its state on disk. Git state lives in a hidden folder beside `path`, so
// the published path holds nothing but the tree, and two entries never share a folder.

import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { PublishMode } from './entry-fields.js';

export interface Layout {
  /** What readers open: a symlink (symlink mode), a plain directory (exchange mode) or a plain clone (in-place mode). */
  readonly path: string;
  readonly parent: string;
  /** Hidden folder beside `path`: `.<name>.git-autosync`. */
  readonly stateDir: string;
  /** The bare repository (symlink and exchange modes) or `path/.git` (in-place mode). */
  readonly gitDir: string;
  readonly worktreesDir: string;
  /** Private copies of credentials that ssh insists on reading with tight permissions. */
  readonly secretsDir: string;
  /** Old directories moved aside (a taken-over clone) until it is safe to delete them. */
  readonly asideDir: string;
  /** Exchange mode: which directory (by inode) holds which commit's tree (tree-record.ts). */
  readonly treeRecord: string;
}

export function layoutFor(path: string, publish: PublishMode): Layout {
  const parent = dirname(path);
  // In-place mode is for a `path` that is itself a mount point, whose parent may not be
  // writable: keep our few files inside its .git instead. Exchange mode builds trees in the
  // state folder beside `path`: the same filesystem, so that they can trade places with it.
  const beside = publish !== 'in-place';
  const stateDir = beside ? join(parent, `.${basename(path)}.git-autosync`) : join(path, '.git', 'git-autosync');
  return {
    path,
    parent,
    stateDir,
    gitDir: beside ? join(stateDir, 'repo.git') : join(path, '.git'),
    worktreesDir: join(stateDir, 'worktrees'),
    secretsDir: join(stateDir, 'secrets'),
    asideDir: join(stateDir, 'aside'),
    treeRecord: join(stateDir, 'trees.json'),
  };
}

/**
 * A group's folders (entries sharing `group` and one parent folder). The parent, `link`, is what
 * readers open: a relative symlink to one generation folder holding a link per member. Nothing
 * of ours lives inside it: members' state and the generations are in `stateDir`, beside it.
 */
export interface GroupLayout {
  /** The members' shared parent folder: a symlink to `generations/<n>`. */
  readonly link: string;
  /** The folder holding `link` and `stateDir`: it must resolve inside SYNC_ROOT. */
  readonly outer: string;
  /** `.<basename(link)>.git-autosync-group`, beside `link`. */
  readonly stateDir: string;
  readonly generationsDir: string;
  /** Each member's own link and state folder, as an ungrouped entry would keep them beside its path. */
  readonly membersDir: string;
}

export function groupLayout(link: string): GroupLayout {
  const stateDir = join(dirname(link), `.${basename(link)}.git-autosync-group`);
  return { link, outer: dirname(link), stateDir, generationsDir: join(stateDir, 'generations'), membersDir: join(stateDir, 'members') };
}

/** Where a member's agent publishes (its own link, never seen by readers) and keeps its state. */
export function memberPath(path: string): string {
  return join(groupLayout(dirname(path)).membersDir, basename(path));
}

/** An entry's layout: a group member's lives in its group's state folder (memberPath). */
export function entryLayout(entry: { path: string; publish: PublishMode; group: { name: string } | null }): Layout {
  return layoutFor(entry.group === null ? entry.path : memberPath(entry.path), entry.publish);
}

export function generationDir(g: GroupLayout, generation: number): string {
  return join(g.generationsDir, String(generation));
}

/** The group link's target, relative to its folder so that other mounts of the volume resolve it. */
export function generationTarget(g: GroupLayout, generation: number): string {
  return join(basename(g.stateDir), 'generations', String(generation));
}

/** A member's link inside a generation folder, relative to it: the member's worktree of `commit`. */
export function memberTarget(memberPathInListing: string, commit: string): string {
  return join('..', '..', 'members', `.${basename(memberPathInListing)}.git-autosync`, 'worktrees', commit);
}

/** In in-place mode, a file in stateDir that marks a clone as ours (so it may be reset or pruned). */
export const OWNER_MARKER = 'owner';

export function worktreeDir(layout: Layout, commit: string): string {
  return join(layout.worktreesDir, commit);
}

/** The symlink target, relative to the link's folder so that other mounts of the volume resolve it. */
export function linkTarget(layout: Layout, commit: string): string {
  return join(basename(layout.stateDir), 'worktrees', commit);
}

/** Hidden folder, beside the entries' paths, holding the object stores entries share. */
export const STORES_DIR = '.git-autosync-stores';

/** Inside a shared store: one file per entry naming its state folder, its ref and what it follows. */
export const STORE_MEMBERS_DIR = 'autosync-members';

export interface StoreMember {
  stateDir: string;
  ref: string;
  /** The remote ref the entry follows; '' before its first poll. */
  source: string;
}

/** Read every entry's file in a store's STORE_MEMBERS_DIR, by file name; unreadable ones are left out. */
export async function readStoreMembers(store: string, isId: (name: string) => boolean = () => true): Promise<Map<string, StoreMember>> {
  const dir = join(store, STORE_MEMBERS_DIR);
  const members = new Map<string, StoreMember>();
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    if (!isId(id)) continue;
    const text = await readFile(join(dir, id), 'utf8').catch(() => null);
    if (text === null) continue;
    const [stateDir = '', ref = '', source = ''] = text.split('\n');
    members.set(id, { stateDir, ref, source });
  }
  return members;
}

export function storeMemberText(m: StoreMember): string {
  return `${m.stateDir}\n${m.ref}\n${m.source}\n`;
}
