import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS } from '../../src/shared/listing-schema.js';
import { keepRefused, ListingError, validateListing, type DesiredEntry } from '../../src/supervisor/listing.js';

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
      'listing entry #2 ("a"): "name" "a" is already used by entry #1; set a distinct "name"',
      'listing entry #3 ("a2"): "path" /data/a is already used by entry #1',
      "listing entry #4 (\"inner\"): \"path\" /data/a/inner and entry #1's /data/a are nested inside each other",
    ],
  );
});

test('one bad entry is refused and the others are kept', () => {
  const listing = validateListing([{ path: '/d/a', repo: '/r' }, { path: '/d/b', repo: 'ext::sh' }, { path: '/d/c', repo: '/r' }], DEFAULTS);
  assert.deepEqual(listing.entries.map((e) => e.entry.name), ['a', 'c']);
  assert.equal(listing.errors.length, 1);
  assert.match(listing.errors[0]!.message, /^listing entry #2 \("b"\): "repo" remote-helper URLs/);
});

test('a listing that is not an array is refused as a whole', () => {
  assert.throws(() => validateListing({ path: '/d/a' }, DEFAULTS), ListingError);
});

test('an entry new to the listing never takes the path or name of one already running', () => {
  const running = new Set(['/data/site']);
  const listing = validateListing(
    [
      { path: '/data/site', repo: 'https://example.com/new.git', name: 'newcomer' },
      { path: '/data/site', repo: 'https://example.com/site.git' },
    ],
    DEFAULTS,
    'listing',
    { running: (e) => running.has(e.path) && e.name === 'site' },
  );
  assert.deepEqual(listing.entries.map((e) => e.entry.name), ['site']);
  assert.deepEqual(listing.errors.map((e) => e.message), ['listing entry #1 ("newcomer"): "path" /data/site is already used by entry #2']);
});

test('a listing that is not valid JSON is reported by line, column and kind, never by its content', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { readListing } = await import('../../src/supervisor/listing.js');
  const dir = await mkdtemp(join(tmpdir(), 'listing-json-'));
  try {
    const file = join(dir, 'listing.json');
    await writeFile(file, 'root:$6$s3cr3tHASH:19000:0:99999:7:::\n');
    await assert.rejects(readListing(file, DEFAULTS), (err: Error) => {
      assert.ok(err instanceof ListingError);
      assert.doesNotMatch(err.message, /s3cr3t|root|HASH/);
      assert.match(err.message, /line 1, column 1/);
      assert.match(err.message, /unexpected character/);
      return true;
    });
    await writeFile(file, '[\n  {"path": "/d/a", "repo": "tok_SECRET"\n');
    await assert.rejects(readListing(file, DEFAULTS), (err: Error) => {
      assert.doesNotMatch(err.message, /SECRET|tok_/);
      assert.match(err.message, /line 3, column 1: unexpected end of input/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('invalid entries are counted once each, however many faults each has', () => {
  const listing = validateListing(
    [{ path: '/d/a', repo: '/r' }, { path: 5, repo: 6, interval: 'x' }, { repo: 'ext::sh', branch: '-x' }],
    DEFAULTS,
  );
  assert.ok(listing.errors.length > 2, 'several faults reported');
  assert.equal(listing.invalidEntries, 2);
});

test('a clash names the earliest entry it clashes with, by name before path before nesting', () => {
  const listing = validateListing(
    [
      { path: '/data/x/deep', repo: '/r1', name: 'one' },
      { path: '/data/y', repo: '/r2', name: 'two' },
      // Nested with #1, path of #2: #1 comes first.
      { path: '/data/x', repo: '/r3', name: 'three' },
      // Name of #2, nested in nothing: the name is named.
      { path: '/data/z', repo: '/r4', name: 'two' },
      { path: '/data/y/in', repo: '/r5', name: 'five' },
    ],
    DEFAULTS,
  );
  assert.deepEqual(listing.entries.map((e) => e.entry.name), ['one', 'two']);
  assert.deepEqual(listing.errors.map((e) => e.message), [
    "listing entry #3 (\"three\"): \"path\" /data/x and entry #1's /data/x/deep are nested inside each other",
    'listing entry #4 ("two"): "name" "two" is already used by entry #2; set a distinct "name"',
    "listing entry #5 (\"five\"): \"path\" /data/y/in and entry #2's /data/y are nested inside each other",
  ]);
});

test('a running entry the listing now refuses keeps running, found by name or else by path; a valid entry on its path displaces it', () => {
  const run = (name: string, path: string) => ({ name, desired: { entry: { name, path } } as DesiredEntry });
  const agents = [run('byname', '/data/n'), run('bypath', '/data/p'), run('taken', '/data/t'), run('under', '/data/u'), run('gone', '/data/g'), run('valid', '/data/v')];
  const listing = validateListing(
    [
      { path: '/data/n2', repo: 'ext::sh', name: 'byname' },
      { path: '/data/p', repo: 'ext::sh', name: 'renamed' },
      { path: '/data/t', repo: 'ext::sh', name: 'taken' },
      { path: '/data/t', repo: '/r', name: 'newcomer' },
      { path: '/data/u', repo: 'ext::sh', name: 'under' },
      { path: '/data/u/inner', repo: '/r', name: 'inner' },
      { path: '/data/v', repo: '/r', name: 'valid' },
    ],
    DEFAULTS,
  );
  const { kept, displaced } = keepRefused(listing, agents);
  assert.deepEqual(kept.map((k) => [k.agent.name, k.refusal.index]), [['byname', 0], ['bypath', 1]]);
  assert.deepEqual(displaced.map((a) => a.name), ['taken', 'under']);
});

test('5,000 entries are validated and matched against 5,000 running ones', () => {
  const n = 5000;
  const raw = Array.from({ length: n }, (_, i) => (i % 10 === 9 ? { path: `/data/r${i}`, repo: 'ext::sh', name: `r${i}` } : { path: `/data/r${i}`, repo: '/r', name: `r${i}` }));
  const listing = validateListing(raw, DEFAULTS);
  assert.equal(listing.entries.length, n - n / 10);
  assert.equal(listing.refused.length, n / 10);
  const agents = raw.map((r) => ({ name: r.name, desired: { entry: { name: r.name, path: r.path } } as DesiredEntry }));
  const { kept, displaced } = keepRefused(listing, agents);
  assert.equal(kept.length, n / 10);
  assert.equal(displaced.length, 0);
});

test('a re-read takes unchanged entries from the last listing and checks only what changed, with the same result', () => {
  const raw = Array.from({ length: 50 }, (_, i) => ({ path: `/data/e${i}`, repo: `/r/e${i}`, branch: 'main' }));
  const first = validateListing(raw, DEFAULTS);
  const edited = raw.map((e, i) => (i === 7 ? { ...e, branch: 'dev' } : i === 9 ? { ...e, branch: '-x' } : e));
  // A copy of entry 3 under a new name: known text or not, the path clash is still found.
  const second = validateListing([...edited, { ...raw[3] }], DEFAULTS, 'listing', { known: first.known });
  const fresh = validateListing([...edited, { ...raw[3] }], DEFAULTS);
  assert.deepEqual(second.entries, fresh.entries);
  assert.deepEqual(second.errors.map((e) => e.message), fresh.errors.map((e) => e.message));
  assert.equal(second.errors.length, 2, 'the bad edit and the duplicate');
  assert.equal(second.entries[0]!.entry, first.entries[0]!.entry, 'an unchanged entry is the one resolved before');
  assert.notEqual(second.entries[7]!.entry, first.entries[7]!.entry);
  assert.equal(second.entries[7]!.entry.ref, 'dev');
  assert.ok(!second.known.has(JSON.stringify(raw[9])) && second.known.has(JSON.stringify(raw[8])), 'only this listing\'s valid entries are kept');
});

test('a long listing is checked in turns: the event loop runs while it is checked, and the result is the same', async () => {
  const { parseListing, parseListingInTurns } = await import('../../src/supervisor/listing.js');
  const text = JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ path: `/data/e${i}`, repo: `git://127.0.0.1/e${i}`, branch: 'main' })));
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  try {
    const inTurns = await parseListingInTurns(text, DEFAULTS, 'listing');
    assert.ok(turns > 0, 'a timer ran while the listing was checked');
    assert.deepEqual(inTurns.entries, parseListing(text, DEFAULTS, 'listing').entries);
  } finally {
    clearInterval(ticker);
  }
});
