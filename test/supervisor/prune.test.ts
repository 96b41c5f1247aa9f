// src/supervisor/prune.ts: a removed entry's tree and state are deleted only where git-autosync
// provably made them; anything else at `path` stays.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { layoutFor, linkTarget, OWNER_MARKER } from '../../src/shared/layout.js';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import { identityOf, writeTreeRecord } from '../../src/shared/tree-record.js';
import { pruneEntry } from '../../src/supervisor/prune.js';
import { makeTempDir } from '../support/tmp.js';

function entry(path: string, extra: Record<string, unknown> = {}) {
  const r = resolveEntry({ path, repo: 'https://h.example/site.git', ...extra }, 0, DEFAULTS);
  if ('errors' in r) throw new Error(`fixture must be valid: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.entry;
}

test('symlink mode: our symlink and state folder go; a symlink pointing elsewhere stays', async (t) => {
  const root = await makeTempDir(t);
  const ours = layoutFor(join(root, 'site'), 'symlink');
  await mkdir(join(ours.worktreesDir, 'a'.repeat(40)), { recursive: true });
  await symlink(linkTarget(ours, 'a'.repeat(40)), ours.path);
  assert.deepEqual(await pruneEntry(entry(ours.path)), [ours.path, ours.stateDir]);
  assert.equal(existsSync(ours.stateDir), false);

  const foreign = layoutFor(join(root, 'other'), 'symlink');
  await mkdir(join(root, 'elsewhere'));
  await symlink('elsewhere', foreign.path);
  assert.deepEqual(await pruneEntry(entry(foreign.path)), []);
  assert.equal(existsSync(foreign.path), true, 'a symlink we did not make is left alone');
});

test('in-place mode: a clone with our marker goes; a folder without it stays', async (t) => {
  const root = await makeTempDir(t);
  const ours = layoutFor(join(root, 'site'), 'in-place');
  await mkdir(ours.stateDir, { recursive: true });
  await writeFile(join(ours.stateDir, OWNER_MARKER), '');
  await writeFile(join(ours.path, 'index.html'), 'x');
  assert.deepEqual(await pruneEntry(entry(ours.path, { publish: 'in-place' })), [ours.path]);
  assert.equal(existsSync(ours.path), false);

  const theirs = join(root, 'theirs');
  await mkdir(join(theirs, '.git'), { recursive: true });
  await writeFile(join(theirs, 'precious.txt'), 'x');
  assert.deepEqual(await pruneEntry(entry(theirs, { publish: 'in-place' })), []);
  assert.equal(existsSync(join(theirs, 'precious.txt')), true);
});

test('exchange mode: the directory the tree record names goes with the state folder; a directory it does not name stays', async (t) => {
  const root = await makeTempDir(t);
  const ours = layoutFor(join(root, 'site'), 'exchange');
  await mkdir(ours.path, { recursive: true });
  await writeFile(join(ours.path, 'index.html'), 'x');
  await mkdir(ours.stateDir, { recursive: true });
  await writeTreeRecord(ours, new Map([['a'.repeat(40), (await identityOf(ours.path))!]]));
  assert.deepEqual(await pruneEntry(entry(ours.path, { publish: 'exchange' })), [ours.path, ours.stateDir]);
  assert.equal(existsSync(ours.path), false);

  // Same name, same record, but another directory now (made by a user after ours was moved away).
  const theirs = layoutFor(join(root, 'other'), 'exchange');
  await mkdir(theirs.path, { recursive: true });
  await mkdir(theirs.stateDir, { recursive: true });
  await writeTreeRecord(theirs, new Map([['b'.repeat(40), (await identityOf(theirs.path))!]]));
  await rename(theirs.path, join(root, 'moved'));
  await mkdir(theirs.path);
  await writeFile(join(theirs.path, 'precious.txt'), 'x');
  assert.deepEqual(await pruneEntry(entry(theirs.path, { publish: 'exchange' })), [theirs.stateDir]);
  assert.equal(existsSync(join(theirs.path, 'precious.txt')), true);
});
