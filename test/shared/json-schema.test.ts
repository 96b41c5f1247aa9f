import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { listingEntrySchema, listingJsonSchema } from '../../src/shared/listing-schema.js';

const root = new URL('../../', import.meta.url);

test('the shipped JSON Schema is the one the daemon validates with (regenerate: node dist/cli.js schema)', () => {
  const shipped = JSON.parse(readFileSync(new URL('schema/listing.schema.json', root), 'utf8')) as unknown;
  assert.deepEqual(shipped, listingJsonSchema());
});

test('the README documents every listing field, and no field that does not exist', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const section = readme.slice(readme.indexOf('### Listing'), readme.indexOf('## Credentials'));
  const documented = new Set([...section.matchAll(/^\| `([a-zA-Z]+)`(?: \/ `([a-zA-Z]+)`|, `([a-zA-Z]+)`)?/gm)].flatMap((m) => m.slice(1).filter(Boolean)));
  const fields = Object.keys(listingEntrySchema.shape);
  assert.deepEqual([...documented].sort(), [...fields].sort());
});

test("the README's Listing table is listing-fields.ts's table, row for row", async () => {
  const { listingTable } = await import('../../src/shared/listing-fields.js');
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const section = readme.slice(readme.indexOf('### Listing'), readme.indexOf('**Shared object stores.**'));
  const table = section.split('\n').filter((l) => l.startsWith('|')).join('\n');
  assert.equal(table, listingTable());
});
