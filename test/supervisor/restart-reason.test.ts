// src/supervisor/restart-reason.ts: why an agent is restarted, in words for the log.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS } from '../../src/shared/listing-schema.js';
import { validateListing, type DesiredEntry } from '../../src/supervisor/listing.js';
import { restartReason } from '../../src/supervisor/restart-reason.js';

const repo = 'https://git.example.com/org/site.git';
const main = { path: '/data/main', repo, branch: 'main' };
const dev = { path: '/data/dev', repo, branch: 'dev' };
const qa = { path: '/data/qa', repo, branch: 'qa' };
const listing = (raw: unknown[]) => validateListing(raw, DEFAULTS).entries;
const byName = (entries: DesiredEntry[]) => (name: string) => entries.find((d) => d.entry.name === name);

test('an edit of the entry itself is "edited", whatever happens to stores', () => {
  const before = listing([main]);
  const after = listing([{ ...main, interval: 5000 }, dev]);
  assert.deepEqual(restartReason(before[0]!, after[0]!, after, byName(before)), { kind: 'edited' });
});

test('an entry moved into a store says who joined it', () => {
  const before = listing([main]);
  const after = listing([main, dev, qa]);
  assert.notEqual(before[0]!.fingerprint, after[0]!.fingerprint, 'reconcile restarts it');
  assert.deepEqual(restartReason(before[0]!, after[0]!, after, byName(before)), { kind: 'store', reason: 'shared store joined by dev, qa' });
});

test('an entry that leaves its store says so', () => {
  const before = listing([main, dev]);
  const after = validateListing([main], DEFAULTS, 'listing', { sharedStores: false }).entries;
  assert.deepEqual(restartReason(before[0]!, after[0]!, after, byName(before)), { kind: 'store', reason: 'shared store left' });
});
