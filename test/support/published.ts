// Reading what an agent published, the way a consumer would.

import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

/** The commit the published symlink names (basename of its target), or null when there is none. */
export function publishedCommit(path: string): string | null {
  try {
    return basename(readlinkSync(path));
  } catch {
    return null;
  }
}

export function readPublishedFile(path: string, file: string): string | null {
  try {
    return readFileSync(join(path, file), 'utf8');
  } catch {
    return null;
  }
}

export function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Worktrees on disk for the entry published at `path` (symlink mode). */
export function worktreesOnDisk(path: string): string[] {
  try {
    return readdirSync(join(path, '..', `.${basename(path)}.git-autosync`, 'worktrees')).sort();
  } catch {
    return [];
  }
}

export function stateDirOf(path: string): string {
  return join(path, '..', `.${basename(path)}.git-autosync`);
}
