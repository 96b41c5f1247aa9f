import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconcile } from '../../src/supervisor/reconcile.js';

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
