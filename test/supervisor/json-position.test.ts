// src/supervisor/json-position.ts: where a listing stops being JSON, told without quoting it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findJsonFault } from '../../src/supervisor/json-position.js';

const parses = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

test('it finds a fault exactly when JSON.parse does', () => {
  const texts = [
    '[]', ' [ {"a": 1, "b": [true, false, null]}, "x\\n\\u00e9", -1.5e3 ] ', '{}', '"s"', '0',
    '', '[', '[1,]', '{"a" 1}', '{"a": }', '[01]', '"\\x"', '"tab\there"', 'tru', '[1] 2', '{"a":1,}', '[-]', '1.', '.5', '[1e]',
  ];
  for (const text of texts) assert.equal(findJsonFault(text) === null, parses(text), JSON.stringify(text));
});

test('the fault is given by 1-based line and column and a kind', () => {
  assert.deepEqual(findJsonFault('[\n  {"path": "/d/a"\n'), { line: 3, column: 1, kind: 'unexpected end of input' });
  assert.deepEqual(findJsonFault('[1,\n 2,\n x]'), { line: 3, column: 2, kind: 'unexpected character' });
  assert.equal(findJsonFault('"abc')?.kind, 'unterminated string');
});
