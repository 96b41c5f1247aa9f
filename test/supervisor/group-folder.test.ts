import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SyncError } from '../../src/shared/errors.js';
import { groupLayout } from '../../src/shared/layout.js';
import { GroupFolder } from '../../src/supervisor/group-folder.js';
import { makeTempDir } from '../support/tmp.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

/** A member's worktree of `commit` where its agent keeps it, holding release.txt. */
function tree(data: string, member: string, commit: string, release: string): void {
  const dir = join(data, '.set.git-autosync-group', 'members', `.${member}.git-autosync`, 'worktrees', commit);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'release.txt'), release);
}

const members = (data: string) => [{ name: 'dags', path: join(data, 'set', 'dags') }, { name: 'lib', path: join(data, 'set', 'lib') }];

test('a generation links every member relatively, the group folder becomes its link, and a restart reads it back', async (t) => {
  const data = join(await makeTempDir(t), 'data');
  tree(data, 'dags', A, '1');
  tree(data, 'lib', B, '1');
  const folder = new GroupFolder(groupLayout(join(data, 'set')), data);
  await folder.build(1, members(data), { dags: A, lib: B });
  await folder.publish(1);
  assert.equal(readlinkSync(join(data, 'set')), '.set.git-autosync-group/generations/1');
  assert.equal(readFileSync(join(realpathSync(join(data, 'set')), 'lib', 'release.txt'), 'utf8'), '1');
  const again = new GroupFolder(groupLayout(join(data, 'set')), data);
  assert.equal(await again.current(), 1);
  assert.deepEqual(await again.generations(members(data)), new Map([[1, { dags: A, lib: B }]]));
});

test('a member whose tree is gone is never published as part of a set', async (t) => {
  const data = join(await makeTempDir(t), 'data');
  tree(data, 'dags', A, '1');
  const folder = new GroupFolder(groupLayout(join(data, 'set')), data);
  await assert.rejects(folder.build(1, members(data), { dags: A, lib: B }), (err: unknown) => err instanceof SyncError && /"lib": the tree of b{12} is gone/.test(err.message));
});

test('a non-empty folder in the way is never replaced; a folder swapped for a symlink out of SYNC_ROOT is never written through', async (t) => {
  const root = await makeTempDir(t);
  const data = join(root, 'data');
  tree(data, 'dags', A, '1');
  tree(data, 'lib', B, '1');
  mkdirSync(join(data, 'set'));
  writeFileSync(join(data, 'set', 'precious'), 'keep');
  const folder = new GroupFolder(groupLayout(join(data, 'set')), data);
  await folder.build(1, members(data), { dags: A, lib: B });
  await assert.rejects(folder.publish(1), (err: unknown) => err instanceof SyncError && err.kind === 'local-state' && /is not empty and not the group's link/.test(err.message));
  assert.deepEqual(readdirSync(join(data, 'set')), ['precious']);

  // The group's folder's parent turns out to be a symlink to somewhere outside SYNC_ROOT.
  mkdirSync(join(root, 'outside'));
  symlinkSync(join(root, 'outside'), join(data, 'planted'));
  const planted = new GroupFolder(groupLayout(join(data, 'planted', 'set')), data);
  await assert.rejects(planted.build(1, members(data), { dags: A, lib: B }), (err: unknown) => err instanceof SyncError && err.kind === 'config' && /outside SYNC_ROOT/.test(err.message));
  assert.deepEqual(readdirSync(join(root, 'outside')), []);
});
