// Exchange mode's record of which directory holds which commit's tree. The published tree is a
// plain directory with nothing of ours inside it (no .git, no marker a reader would see), so a
// tree is known by its inode: renameat2(RENAME_EXCHANGE) and rename() move a directory without
// changing its inode, so one record written *before* a swap stays true after it, and a kill -9
// between the swap and anything after it leaves nothing to re-learn (publishers/exchange.ts).
// Read by the agent (what is published) and by the supervisor's prune (what is provably ours).

import { lstat, open, readFile, rename } from 'node:fs/promises';
import { isObjectId } from './object-id.js';
import type { Layout } from './layout.js';

/**
 * A directory's identity: device and inode, plus its birth time, so that an inode number the
 * file system hands out again after a tree was deleted is not taken for that tree. (Birth time
 * comes from statx; where a file system has none it reads 0 and the inode alone decides.)
 */
export interface TreeIdentity {
  readonly dev: string;
  readonly ino: string;
  readonly birth: string;
}

/** Commit → the identity of the directory holding its whole tree. */
export type TreeRecord = Map<string, TreeIdentity>;

/** The identity of whatever is at `p` (a symlink itself, never what it names); null when nothing is. */
export async function entryIdentity(p: string): Promise<(TreeIdentity & { directory: boolean }) | null> {
  const s = await lstat(p, { bigint: true }).catch(() => null);
  return s === null ? null : { dev: String(s.dev), ino: String(s.ino), birth: String(s.birthtimeNs), directory: s.isDirectory() };
}

/** The identity of the real directory at `dir` (never followed through a symlink); null otherwise. */
export async function identityOf(dir: string): Promise<TreeIdentity | null> {
  const id = await entryIdentity(dir);
  return id === null || !id.directory ? null : { dev: id.dev, ino: id.ino, birth: id.birth };
}

export const sameIdentity = (a: TreeIdentity | null, b: TreeIdentity | null): boolean =>
  a !== null && b !== null && a.dev === b.dev && a.ino === b.ino && a.birth === b.birth;

/** The commit whose tree `identity` is, per `record`; null when it is none of ours. */
export function commitOf(record: TreeRecord, identity: TreeIdentity | null): string | null {
  if (identity === null) return null;
  for (const [commit, id] of record) if (sameIdentity(id, identity)) return commit;
  return null;
}

/** The record on disk; empty when there is none or it cannot be read (then nothing is provably ours). */
export async function readTreeRecord(layout: Layout): Promise<TreeRecord> {
  const record: TreeRecord = new Map();
  const text = await readFile(layout.treeRecord, 'utf8').catch(() => null);
  if (text === null) return record;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return record;
  }
  const trees = (parsed as { trees?: unknown } | null)?.trees;
  if (!Array.isArray(trees)) return record;
  for (const t of trees as Array<Record<string, unknown>>) {
    const { commit, dev, ino, birth } = t ?? {};
    if (typeof commit === 'string' && isObjectId(commit) && [dev, ino, birth].every((v) => typeof v === 'string' && /^\d+$/.test(v))) {
      record.set(commit, { dev: dev as string, ino: ino as string, birth: birth as string });
    }
  }
  return record;
}

/**
 * Replace the record in one rename, after the new file's bytes are on disk (fsync): a crash,
 * even a power cut, leaves the old record or the new one, never a torn one.
 */
export async function writeTreeRecord(layout: Layout, record: TreeRecord): Promise<void> {
  const tmp = `${layout.treeRecord}.${process.pid}.tmp`;
  const trees = [...record].map(([commit, id]) => ({ commit, ...id }));
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(`${JSON.stringify({ version: 1, trees })}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, layout.treeRecord);
}

/** The commit whose tree is the directory at `dir`, per the record on disk; null when none of ours. */
export async function recordedCommitAt(layout: Layout, dir: string): Promise<string | null> {
  return commitOf(await readTreeRecord(layout), await identityOf(dir));
}
