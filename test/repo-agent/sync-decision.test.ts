// The decision at the heart of a sync, with no git: a table of what is known → what to do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideSync, type SyncDecision, type SyncFacts } from '../../src/repo-agent/sync-decision.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

const whole = (commit: string) => ({ commit, whole: true });
const broken = (commit: string) => ({ commit, whole: false });
const nothing = { commit: null, whole: false };

const rows: Array<[string, SyncFacts, SyncDecision]> = [
  // Before the fetch.
  ['the remote still points at the published commit', { published: whole(A), remote: A, fetched: null, refused: null }, 'unchanged'],
  ['the remote moved', { published: whole(A), remote: B, fetched: null, refused: null }, 'fetch'],
  ['nothing published yet (the remote not asked)', { published: nothing, remote: null, fetched: null, refused: null }, 'fetch'],
  ['nothing published yet (the remote asked)', { published: nothing, remote: A, fetched: null, refused: null }, 'fetch'],
  ['the remote points at the commit the pre-publish hook vetoed', { published: whole(A), remote: B, fetched: null, refused: B }, 'unchanged'],
  ['the remote moved past the vetoed commit', { published: whole(A), remote: C, fetched: null, refused: B }, 'fetch'],
  ['the published tree is gone (a dangling link)', { published: broken(A), remote: A, fetched: null, refused: null }, 'fetch'],
  ['an incomplete tree of the remote commit is retried, not taken as unchanged', { published: broken(A), remote: A, fetched: null, refused: A }, 'fetch'],
  ['a remote commit not asked while something is published', { published: whole(A), remote: null, fetched: null, refused: null }, 'fetch'],
  // After the fetch.
  ['the fetch brought a new commit', { published: whole(A), remote: B, fetched: B, refused: null }, 'publish'],
  ['the fetch brought the published commit (the remote moved back meanwhile)', { published: whole(A), remote: B, fetched: A, refused: null }, 'unchanged'],
  ['the fetch brought the vetoed commit', { published: whole(A), remote: C, fetched: B, refused: B }, 'unchanged'],
  ['first sync: whatever was fetched is published', { published: nothing, remote: null, fetched: A, refused: null }, 'publish'],
  ['an incomplete tree of the fetched commit is published again', { published: broken(A), remote: A, fetched: A, refused: null }, 'publish'],
  ['after a veto with nothing whole published, a fetched commit is published', { published: nothing, remote: B, fetched: B, refused: B }, 'publish'],
];

for (const [name, facts, expected] of rows) {
  test(`sync decision: ${name} → ${expected}`, () => {
    assert.equal(decideSync(facts), expected);
  });
}
