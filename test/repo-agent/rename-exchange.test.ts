import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { exchange, ExchangeError, isUnsupported } from '../../src/repo-agent/rename-exchange.js';
import { startPathReader } from '../support/path-reader.js';
import { makeTempDir } from '../support/tmp.js';

test('a directory and a symlink trade places in one call', async (t) => {
  const dir = await makeTempDir(t);
  await mkdir(join(dir, 'tree'));
  await writeFile(join(dir, 'tree', 'f'), 'old');
  await mkdir(join(dir, 'new'));
  await writeFile(join(dir, 'new', 'f'), 'new');
  await symlink('new', join(dir, 'link'));

  exchange(join(dir, 'link'), join(dir, 'tree'));

  assert.equal(await readlink(join(dir, 'tree')), 'new');
  assert.equal(await readFile(join(dir, 'tree', 'f'), 'utf8'), 'new');
  assert.ok((await lstat(join(dir, 'link'))).isDirectory());
  assert.equal(await readFile(join(dir, 'link', 'f'), 'utf8'), 'old');
});

test('a reader resolving the path during 20,000 exchanges never finds it missing', async (t) => {
  const dir = await makeTempDir(t);
  const path = join(dir, 'published');
  await mkdir(join(dir, 'a'));
  await writeFile(join(dir, 'a', 'f'), 'a');
  await mkdir(path);
  await writeFile(join(path, 'f'), 'b');
  const reader = await startPathReader(t, path, join(dir, 'stop'));

  // The same loop with two renames (aside, then in) instead: 5,918 of 30,035 reads found nothing.
  for (let i = 0; i < 20_000; i++) exchange(join(dir, 'a'), path);

  const { n, missing } = await reader.stop();
  assert.ok(n > 0, 'the reader read');
  assert.equal(missing, 0, `${missing} of ${n} reads found no tree at the path`);
  // An even number of exchanges puts everything back.
  assert.equal(await readFile(join(path, 'f'), 'utf8'), 'b');
});

test('a failed exchange names both paths and the errno, and changes nothing', async (t) => {
  const dir = await makeTempDir(t);
  await mkdir(join(dir, 'a'));
  assert.throws(
    () => exchange(join(dir, 'a'), join(dir, 'absent')),
    (err: unknown) => err instanceof ExchangeError && err.code === 'ENOENT' && err.message.includes(join(dir, 'absent')) && !isUnsupported(err),
  );
  assert.ok((await lstat(join(dir, 'a'))).isDirectory());
});

test('two filesystems cannot exchange: EXDEV, not "unsupported"', async (t) => {
  const dir = await makeTempDir(t);
  await mkdir(join(dir, 'a'));
  // /proc is always another filesystem, and nothing in it can be renamed.
  assert.throws(
    () => exchange(join(dir, 'a'), '/proc/self/cwd'),
    (err: unknown) => err instanceof ExchangeError && err.code === 'EXDEV' && !isUnsupported(err),
  );
});
