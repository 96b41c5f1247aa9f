// src/supervisor/path-claims.ts: clashes by name, path and nesting, found without a scan.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PathClaims } from '../../src/supervisor/path-claims.js';

test('a path is nested with a claim above it or below it, never with a sibling or a prefix that is not a folder', () => {
  const c = new PathClaims<string>();
  c.add('a', '/data/a', 'A');
  c.add('b', '/srv/x/y/b', 'B');
  assert.equal(c.nested('/data/a/inner'), 'A', 'inside a claim');
  assert.equal(c.nested('/data'), 'A', 'a claim inside it');
  assert.equal(c.nested('/'), 'A', 'the root holds everything; the earliest claim is named');
  assert.equal(c.nested('/srv/x'), 'B');
  assert.equal(c.nested('/data/ab'), undefined, 'a name prefix is no folder');
  assert.equal(c.nested('/data/b'), undefined, 'a sibling');
  assert.equal(c.nested('/data/a'), undefined, 'the same path is a path clash, not nesting');
  assert.equal(c.path('/data/a'), 'A');
  assert.equal(c.name('b'), 'B');
});

test('clash() names the earliest claim that clashes in any way', () => {
  const c = new PathClaims<string>();
  c.add('one', '/data/x/deep', 'first');
  c.add('two', '/data/y', 'second');
  assert.equal(c.clash('two', '/data/x'), 'first', 'nested with the first beats the name of the second');
  assert.equal(c.clash('two', '/data/z'), 'second');
  assert.equal(c.clash('three', '/data/z'), undefined);
});
