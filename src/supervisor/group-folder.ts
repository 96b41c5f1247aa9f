// A group's folders on disk: generation folders holding one relative link per member, and the
// group's link, renamed over in one rename() so a reader that resolves it once sees one set.
// Every write first checks that the group's folder still lies inside SYNC_ROOT on disk.

import { lstat, mkdir, readdir, readlink, realpath, rename, rm, rmdir, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import { generationDir, generationTarget, memberTarget, type GroupLayout } from '../shared/layout.js';
import { isInside } from '../shared/paths.js';
import { isObjectId } from '../shared/object-id.js';
import type { MemberCommits } from './groups.js';

export interface GroupMember {
  name: string;
  /** The member's `path` in the listing: its basename names its link in a generation. */
  path: string;
}

export class GroupFolder {
  constructor(
    readonly layout: GroupLayout,
    private readonly syncRoot: string | undefined,
  ) {}

  /** The generation the group's link shows; null when there is none of ours (nothing, an empty folder). */
  async current(): Promise<number | null> {
    const target = await readlink(this.layout.link).catch(() => null);
    const prefix = generationTarget(this.layout, 0).slice(0, -1);
    if (target === null || !target.startsWith(prefix)) return null;
    const n = Number(target.slice(prefix.length));
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  }

  /** Every generation on disk, with the commit each of `members` is linked at (members missing from one are left out). */
  async generations(members: readonly GroupMember[]): Promise<Map<number, MemberCommits>> {
    const found = new Map<number, MemberCommits>();
    for (const name of await readdir(this.layout.generationsDir).catch(() => [] as string[])) {
      const n = Number(name);
      if (!/^[1-9][0-9]*$/.test(name) || !Number.isSafeInteger(n)) continue;
      const commits: Record<string, string> = {};
      for (const m of members) {
        const target = await readlink(join(generationDir(this.layout, n), basename(m.path))).catch(() => null);
        const commit = target === null ? '' : basename(target);
        if (isObjectId(commit)) commits[m.name] = commit;
      }
      found.set(n, commits);
    }
    return found;
  }

  /**
   * Generation `n`: one link per member to its worktree of the commit given. Each link is checked
   * to resolve: a tree removed meanwhile must never be published as part of a set.
   */
  async build(n: number, members: readonly GroupMember[], commits: MemberCommits): Promise<string> {
    await this.confine();
    await mkdir(this.layout.generationsDir, { recursive: true });
    const dir = generationDir(this.layout, n);
    await rm(dir, { recursive: true, force: true }); // a crash's half-built leftover
    await mkdir(dir);
    for (const m of members) {
      const commit = commits[m.name];
      if (commit === undefined) throw new SyncError('local-state', `group member "${m.name}" has no commit in the candidate set`);
      const link = join(dir, basename(m.path));
      await symlink(memberTarget(m.path, commit), link);
      const info = await stat(link).catch(() => null);
      if (info === null || !info.isDirectory()) throw new SyncError('local-state', `group member "${m.name}": the tree of ${commit.slice(0, 12)} is gone; the set is offered again at the next round`);
    }
    return dir;
  }

  /**
   * Show generation `n`: a fresh link renamed over the group's. The first publish may find an
   * empty folder there (made by hand, or by a volume): it is removed first, nothing in it to read.
   */
  async publish(n: number): Promise<void> {
    await this.confine();
    const { link } = this.layout;
    const info = await lstat(link).catch(() => null);
    if (info !== null && !info.isSymbolicLink()) {
      if (!info.isDirectory() || (await readdir(link)).length > 0) {
        throw new SyncError('local-state', `${link} is not empty and not the group's link; git-autosync will not delete or overwrite it. Move it away so that the group can publish there`);
      }
      await rmdir(link);
    } else if (info !== null && (await this.current()) === null) {
      throw new SyncError('local-state', `${link} is a symlink git-autosync did not make; move it away so that the group can publish there`);
    }
    const tmp = join(this.layout.outer, `.${basename(link)}.group-link-${process.pid}-${Date.now()}`);
    await rm(tmp, { force: true });
    await symlink(generationTarget(this.layout, n), tmp);
    try {
      await rename(tmp, link);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async remove(n: number): Promise<void> {
    await this.confine();
    if ((await this.current()) === n) return; // shown again meanwhile
    await rm(generationDir(this.layout, n), { recursive: true, force: true });
  }

  /**
   * Before every write, not once: a folder can be swapped for a symlink while we run. The group's
   * folder resolves inside SYNC_ROOT, and our own folders are real folders, never planted links.
   */
  private async confine(): Promise<void> {
    if (this.syncRoot !== undefined) {
      const root = await realpath(this.syncRoot);
      // The deepest folder that exists, resolved before anything is made: not even an empty
      // folder is created on the far side of a symlink.
      let probe = this.layout.outer;
      while (!(await lstat(probe).then(() => true, () => false)) && dirname(probe) !== probe) probe = dirname(probe);
      const resolved = await realpath(probe).catch(() => `${probe} (a dangling symlink)`);
      if (resolved !== root && !isInside(root, resolved)) {
        throw new SyncError('config', `group folder ${this.layout.link} resolves to ${resolved}, outside SYNC_ROOT (${this.syncRoot}), through a symlink; refusing to write there`);
      }
    }
    for (const dir of [this.layout.stateDir, this.layout.generationsDir]) {
      const info = await lstat(dir).catch(() => null);
      if (info !== null && !info.isDirectory()) throw new SyncError('config', `${dir} is not a folder (a symlink?); git-autosync made it as a folder and will not write through it`);
    }
  }
}
