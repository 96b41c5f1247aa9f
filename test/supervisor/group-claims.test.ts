import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import { validateListing } from '../../src/supervisor/listing.js';

const messages = (raw: unknown[], defaults = DEFAULTS) => validateListing(raw, defaults).errors.map((e) => e.message);
const kept = (raw: unknown[], defaults = DEFAULTS) => validateListing(raw, defaults).entries.map((e) => e.entry.name);

test('members of one group share one parent folder; one elsewhere is refused by name and field, the others carry on', () => {
  const raw = [
    { path: '/data/set/dags', repo: '/r1', group: 'set' },
    { path: '/data/other/lib', repo: '/r2', group: 'set' },
    { path: '/data/set/web', repo: '/r3', group: 'set' },
  ];
  assert.deepEqual(messages(raw), ['listing entry #2 ("lib"): "group" "set" publishes /data/set (entry #1); the members of one group share one parent folder, but this path\'s is /data/other']);
  assert.deepEqual(kept(raw), ['dags', 'web']);
});

test('a group member must publish as a symlink: the group folder is the one atomic link', () => {
  const r = resolveEntry({ path: '/data/set/dags', repo: '/r1', group: 'set', publish: 'exchange' }, 0, DEFAULTS);
  assert.ok('errors' in r);
  assert.deepEqual(r.errors.map((e) => e.message), ['listing entry #1 ("dags"): "group" needs "publish": "symlink" (the group\'s folder is the one atomic link), not "exchange"']);
});

test("a group member's prePublishHook is the group's: the agent is not given it", () => {
  const r = resolveEntry({ path: '/data/set/dags', repo: '/r1', group: 'set', prePublishHook: { command: ['check'] } }, 0, DEFAULTS);
  assert.ok('entry' in r);
  assert.equal(r.entry.hooks.prePublish, undefined);
  assert.deepEqual(r.entry.group, { name: 'set', prePublish: { command: ['check'], timeoutMs: 60_000 } });
});

test('an entry inside a group folder that is not a member, or one folder for two groups, is refused', () => {
  const raw = [
    { path: '/data/set/dags', repo: '/r1', group: 'set' },
    { path: '/data/set/stray', repo: '/r2' },
    { path: '/data/set/lib', repo: '/r3', group: 'other' },
  ];
  assert.deepEqual(messages(raw), [
    'listing entry #2 ("stray"): "path" /data/set/stray is inside group "set"\'s folder /data/set; only that group\'s members publish there (add "group": "set")',
    'listing entry #3 ("lib"): "group" /data/set is already group "set"\'s folder; one folder is one group',
  ]);
  assert.deepEqual(kept(raw), ['dags']);
});

test("a group's folder lies strictly inside SYNC_ROOT, and its name is no entry's", () => {
  const rooted = { ...DEFAULTS, syncRoot: '/data' };
  assert.deepEqual(messages([{ path: '/data/dags', repo: '/r1', group: 'set' }], rooted), [
    'listing entry #1 ("dags"): "group" needs its folder /data (the group\'s link) strictly inside SYNC_ROOT (/data); put the members one folder deeper',
  ]);
  assert.deepEqual(messages([{ path: '/data/set/dags', repo: '/r1', group: 'set' }], rooted), []);
  assert.match(messages([{ path: '/data/set/dags', repo: '/r1', group: 'web' }, { path: '/data/web', repo: '/r2' }])[0] ?? '', /^listing entry #1 \("dags"\): "group" "web" is also an entry's name/);
});

test('group members never share an object store: their state lives in the group folder', () => {
  const listing = validateListing([{ path: '/data/set/a', repo: 'https://h/r.git', group: 'set' }, { path: '/data/set/b', repo: 'https://h/r.git', group: 'set' }], DEFAULTS);
  assert.deepEqual(listing.entries.map((e) => e.entry.store), [null, null]);
});
