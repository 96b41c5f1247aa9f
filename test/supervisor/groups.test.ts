import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideGroup, groupNotReadyReason, MAX_ROUND_RESTARTS, opensRound, setKey, type GroupStatus, type GroupView, type MemberView } from '../../src/supervisor/groups.js';

const A1 = 'a'.repeat(40);
const A2 = 'b'.repeat(40);
const B1 = 'c'.repeat(40);
const B2 = 'd'.repeat(40);

const member = (name: string, commit: string | null, syncedFrom: number, failing: string | null = null): MemberView => ({ name, commit, syncedFrom, failing });
const view = (members: MemberView[], over: Partial<GroupView> = {}): GroupView => ({ members, published: { dags: A1, lib: B1 }, round: 5, vetoed: null, ...over });

test('a round waits until every member has finished a sync begun after it opened', () => {
  // lib's last sync began before the round (tick 3 <= 5): its answer may predate the push.
  assert.deepEqual(decideGroup(view([member('dags', A2, 6), member('lib', B1, 3)])), { kind: 'wait', for: ['lib'] });
});

test('a whole new set is published once every member has answered', () => {
  assert.deepEqual(decideGroup(view([member('dags', A2, 6), member('lib', B2, 7)])), { kind: 'publish', commits: { dags: A2, lib: B2 } });
});

test('one member moving is enough for a new generation', () => {
  assert.deepEqual(decideGroup(view([member('dags', A2, 6), member('lib', B1, 7)])), { kind: 'publish', commits: { dags: A2, lib: B1 } });
});

test('a failing member holds the group on its last good generation, and says why', () => {
  const d = decideGroup(view([member('dags', A2, 6), member('lib', B1, 7, 'network: connection refused')]));
  assert.deepEqual(d, { kind: 'held', by: [{ name: 'lib', reason: 'network: connection refused' }] });
});

test('a member with nothing checked out yet holds the first generation', () => {
  const d = decideGroup(view([member('dags', A1, 6), member('lib', null, 7)], { published: null }));
  assert.equal(d.kind, 'held');
});

test('the published set, or a vetoed one, is not published again', () => {
  assert.deepEqual(decideGroup(view([member('dags', A1, 6), member('lib', B1, 7)])), { kind: 'current' });
  const vetoed = setKey({ lib: B2, dags: A2 });
  assert.deepEqual(decideGroup(view([member('dags', A2, 6), member('lib', B2, 7)], { vetoed })), { kind: 'current' });
});

test('without an open round nothing is decided', () => {
  assert.deepEqual(decideGroup(view([member('dags', A2, 6), member('lib', B2, 7)], { round: null })), { kind: 'current' });
});

test('the first generation is published from the first whole set', () => {
  assert.deepEqual(decideGroup(view([member('dags', A1, 6), member('lib', B1, 7)], { published: null })), { kind: 'publish', commits: { dags: A1, lib: B1 } });
});

test('setKey does not depend on member order', () => {
  assert.equal(setKey({ a: A1, b: B1 }), setKey({ b: B1, a: A1 }));
  assert.notEqual(setKey({ a: A1, b: B1 }), setKey({ a: B1, b: A1 }));
});

test('news opens a round; an unchanged poll never does, so a round\'s own answers do not start another', () => {
  const v = view([member('dags', A2, 6), member('lib', B1, 7)], { round: null });
  assert.equal(opensRound(v, 'synced', 0), true);
  assert.equal(opensRound(v, 'trigger', 0), true);
  assert.equal(opensRound(v, 'other', 0), false);
});

test('a member publishing during a round begins it again, a bounded number of times', () => {
  const v = view([member('dags', A2, 6), member('lib', B1, 3)]);
  assert.equal(opensRound(v, 'synced', 0), true);
  assert.equal(opensRound(v, 'synced', MAX_ROUND_RESTARTS), false);
  assert.equal(opensRound(v, 'trigger', MAX_ROUND_RESTARTS), true, 'someone asking always reads the remotes again');
});

test('a recovered member opens a round only when the set it completes is new', () => {
  const same = view([member('dags', A1, 6), member('lib', B1, 7)], { round: null });
  assert.equal(opensRound(same, 'recovered', 0), false);
  const moved = view([member('dags', A2, 6), member('lib', B1, 7)], { round: null });
  assert.equal(opensRound(moved, 'recovered', 0), true);
  assert.equal(opensRound({ ...moved, vetoed: setKey({ dags: A2, lib: B1 }) }, 'recovered', 0), false);
});

test('a group is ready once a generation is shown, and otherwise says what holds it', () => {
  const base: GroupStatus = { name: 'set', path: '/x/set', members: ['dags', 'lib'], required: true, state: 'waiting', generation: null, commits: null, publishedAt: null, heldBy: [], waitingFor: [], vetoed: null, lastError: null };
  assert.equal(groupNotReadyReason(base), 'no generation published yet');
  assert.match(groupNotReadyReason({ ...base, heldBy: [{ name: 'lib', reason: 'network: refused' }] }) ?? '', /held by "lib" \(network: refused\)/);
  assert.equal(groupNotReadyReason({ ...base, generation: 1 }), null);
});
