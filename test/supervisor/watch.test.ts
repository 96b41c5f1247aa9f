// src/supervisor/watch.ts: "the listing may have changed" events for plain writes, editors'
// write-and-rename and a ConfigMap's ..data symlink swap.

import assert from 'node:assert/strict';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { watchListing } from '../../src/supervisor/watch.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

async function watched(t: Parameters<typeof makeTempDir>[0], listingName: string, prepare: (dir: string) => Promise<void> = async () => undefined) {
  const dir = await makeTempDir(t);
  await prepare(dir);
  let events = 0;
  // No periodic re-read during the test: every event comes from the watcher.
  const w = watchListing(join(dir, listingName), () => (events += 1), { debounceMs: 50, rereadMs: 3_600_000 });
  t.after(() => w.close());
  // The watcher looks once when it is ready: that is the first event.
  await waitFor(() => events >= 1, { timeoutMs: 30_000, message: 'watcher ready' });
  const since = events;
  return { dir, changes: () => events - since };
}

test('a write, and a write-and-rename, of the listing are changes', async (t) => {
  const w = await watched(t, 'listing.json', (dir) => writeFile(join(dir, 'listing.json'), '[]'));
  await writeFile(join(w.dir, 'listing.json'), '[1]');
  await waitFor(() => w.changes() >= 1, { timeoutMs: 30_000, message: 'a plain write is seen' });
  const afterWrite = w.changes();
  await writeFile(join(w.dir, '.listing.json.swp'), '[2]');
  await rename(join(w.dir, '.listing.json.swp'), join(w.dir, 'listing.json'));
  await waitFor(() => w.changes() > afterWrite, { timeoutMs: 30_000, message: 'a rename over the listing is seen' });
  assert.ok(w.changes() >= 2);
});

test('a ConfigMap swap (a new ..data link, the file itself untouched) is a change', async (t) => {
  const w = await watched(t, 'listing.json', async (dir) => {
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'listing.json'), '[]');
    await symlink('..v1', join(dir, '..data'));
    await symlink('..data/listing.json', join(dir, 'listing.json'));
  });
  await mkdir(join(w.dir, '..v2'));
  await writeFile(join(w.dir, '..v2', 'listing.json'), '[1]');
  await symlink('..v2', join(w.dir, '..data_tmp'));
  await rename(join(w.dir, '..data_tmp'), join(w.dir, '..data'));
  await waitFor(() => w.changes() >= 1, { timeoutMs: 30_000, message: 'the ..data swap is seen' });
  assert.ok(w.changes() >= 1);
});
