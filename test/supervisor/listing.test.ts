import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS } from '../../src/shared/listing-schema.js';
import { ListingError, validateListing } from '../../src/supervisor/listing.js';

test('duplicate names, duplicate paths and nested paths are refused; the first entry keeps running', () => {
  const listing = validateListing(
    [
      { path: '/data/a', repo: '/r1' },
      { path: '/other/a', repo: '/r2' },
      { path: '/data/a', repo: '/r3', name: 'a2' },
      { path: '/data/a/inner', repo: '/r4' },
      { path: '/data/b', repo: '/r5' },
    ],
    DEFAULTS,
  );
  assert.deepEqual(listing.entries.map((e) => e.entry.name), ['a', 'b']);
  assert.deepEqual(
    listing.errors.map((e) => e.message),
    [
      'listing entry 1 ("a"): "name" "a" is already used by entry 0; set a distinct "name"',
      'listing entry 2 ("a2"): "path" /data/a is already used by entry 0',
      "listing entry 3 (\"inner\"): \"path\" /data/a/inner and entry 0's /data/a are nested inside each other",
    ],
  );
});

test('one bad entry is refused and the others are kept', () => {
  const listing = validateListing([{ path: '/d/a', repo: '/r' }, { path: '/d/b', repo: 'ext::sh' }, { path: '/d/c', repo: '/r' }], DEFAULTS);
  assert.deepEqual(listing.entries.map((e) => e.entry.name), ['a', 'c']);
  assert.equal(listing.errors.length, 1);
  assert.match(listing.errors[0]!.message, /^listing entry 1 \("b"\): "repo" remote-helper URLs/);
});

test('a listing that is not an array is refused as a whole', () => {
  assert.throws(() => validateListing({ path: '/d/a' }, DEFAULTS), ListingError);
});
