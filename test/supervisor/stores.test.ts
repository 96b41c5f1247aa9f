// src/supervisor/stores.ts: which entries share one object store (moved here from listing.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS } from '../../src/shared/listing-schema.js';
import { validateListing } from '../../src/supervisor/listing.js';
import { assignStores } from '../../src/supervisor/stores.js';

test('entries of one remote in one folder share a store; other folders, depths, in-place entries and SHARED_STORES=false do not', () => {
  const url = 'https://git.example.com/org/site.git';
  const raw = [
    { path: '/data/main', repo: url, branch: 'main' },
    { path: '/data/dev', repo: 'https://GIT.example.com/org/site/', branch: 'dev' },
    { path: '/data/deep', repo: url, branch: 'dev', depth: 0 },
    { path: '/other/main', repo: url, branch: 'main' },
    { path: '/data/inplace', repo: url, branch: 'main', publish: 'in-place' },
    { path: '/data/alone', repo: 'https://git.example.com/org/other.git' },
  ];
  const shared = validateListing(raw, DEFAULTS).entries;
  const stores = Object.fromEntries(shared.map((d) => [d.entry.name, d.entry.store?.dir ?? null]));
  assert.match(stores.main!, /^\/data\/\.git-autosync-stores\/site-[0-9a-f]{12}\.git$/);
  assert.equal(stores.dev, stores.main, 'the same remote spelled another way');
  assert.deepEqual([stores.deep, stores.inplace, stores.alone], [null, null, null]);
  assert.equal(shared[0]!.entry.store?.url, url, 'the first entry\'s spelling is the store\'s');
  assert.notEqual(shared[0]!.fingerprint, JSON.stringify(shared[0]!.raw), 'joining a store restarts the agent');
  assert.equal(shared.find((d) => d.entry.name === 'alone')!.fingerprint, JSON.stringify(raw[5]));

  const off = validateListing(raw, DEFAULTS, 'listing', { sharedStores: false }).entries;
  assert.ok(off.every((d) => d.entry.store === null));
});

test('a store that exists on disk is kept by the one entry left of its group', () => {
  const raw = [{ path: '/data/main', repo: 'git://127.0.0.1/site', branch: 'main' }];
  const [entry] = validateListing(raw, DEFAULTS).entries;
  assert.equal(entry!.entry.store, null);
  const dir = assignStores([entry!.entry], true, () => true)[0]?.dir;
  assert.match(dir ?? '', /^\/data\/\.git-autosync-stores\/site-[0-9a-f]{12}\.git$/);
});

test('SHARED_STORES=false, or a group of one with no store on disk, shares nothing', () => {
  const entries = validateListing([{ path: '/data/a', repo: '/r/a' }, { path: '/data/b', repo: '/r/b' }], DEFAULTS).entries.map((d) => d.entry);
  assert.deepEqual(assignStores(entries, true, () => false), [null, null]);
  assert.deepEqual(assignStores(entries, false, () => true), [null, null]);
});
