import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconcile, startOrder } from '../../src/supervisor/reconcile.js';

const d = (name: string, fingerprint = name) => ({ entry: { name }, fingerprint });

test('new entries start, removed ones stop, changed ones restart, unchanged ones are left alone', () => {
  const actions = reconcile([d('a'), d('b', 'b2'), d('c')], [{ name: 'a', fingerprint: 'a' }, { name: 'b', fingerprint: 'b' }, { name: 'x', fingerprint: 'x' }]);
  assert.deepEqual(
    actions.map((a) => `${a.kind}:${a.kind === 'stop' ? a.name : a.desired.entry.name}`).sort(),
    ['restart:b', 'start:c', 'stop:x'],
  );
});

test('an empty listing stops everything; nothing running starts everything', () => {
  assert.deepEqual(reconcile([], [{ name: 'a', fingerprint: 'a' }]), [{ kind: 'stop', name: 'a' }]);
  assert.equal(reconcile([d('a'), d('b')], []).length, 2);
});

test('required entries start first, each group in listing order', () => {
  const s = (name: string, required: boolean) => ({ kind: 'start' as const, desired: { entry: { name, required }, fingerprint: name } });
  const order = startOrder([s('a', false), s('b', true), s('c', false), s('d', true)]).map((a) => a.desired.entry.name);
  assert.deepEqual(order, ['b', 'd', 'a', 'c']);
});
