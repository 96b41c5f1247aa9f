// docs/ against the code: listings shown validate, the git-sync table maps to fields and variables
// that exist, troubleshooting covers every error kind, and the files and pages it names exist.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SYNC_ERROR_KINDS } from '../../src/shared/errors.js';
import { DEFAULTS, listingEntrySchema, listingJsonSchema } from '../../src/shared/listing-schema.js';
import { validateListing } from '../../src/supervisor/listing.js';
import { filesUnder, obj } from '../support/manifests.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const docs = filesUnder(root, 'docs', ['.md']);

const readme = read('README.md');
const envSection = readme.slice(readme.indexOf('### Environment'), readme.indexOf('### Listing'));
const KNOWN_ENV = new Set([...envSection.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!));
const schema = obj(obj(listingJsonSchema().items).properties);
const FIELDS = new Set(Object.keys(listingEntrySchema.shape).flatMap((k) => [k, ...Object.keys(obj(obj(schema[k]).properties)).map((n) => `${k}.${n}`)]));

test('the deployment, migration, security and troubleshooting pages exist', () => {
  for (const page of ['deployment', 'migration', 'security', 'troubleshooting']) assert.ok(docs.includes(`docs/${page}.md`), `docs/${page}.md`);
});

test('every listing shown in docs/ passes the validator', () => {
  let listings = 0;
  for (const file of docs) {
    for (const m of read(file).matchAll(/```json\n([\s\S]*?)```/g)) {
      const data = JSON.parse(m[1]!) as unknown;
      if (!Array.isArray(data)) continue;
      listings++;
      assert.deepEqual(validateListing(data, DEFAULTS, file).errors.map((e) => e.message), [], file);
    }
  }
  assert.ok(listings > 0);
});

test('the git-sync table maps flags to listing fields and variables that exist', () => {
  const text = read('docs/migration.md');
  const section = text.slice(text.indexOf('## From kubernetes/git-sync'));
  const rows = [...section.matchAll(/^\| `(--[a-z*-]+|\$[A-Z_]+|-v)`[^|]*\| (.*) \|$/gm)];
  assert.ok(rows.length >= 40, `${rows.length} rows`);
  for (const [, flag, ours] of rows) {
    if (!ours!.startsWith('`')) continue; // "not yet", "not supported", prose
    const first = /^`([A-Za-z][A-Za-z0-9_.]*)/.exec(ours!)![1]!;
    const known = /^[A-Z][A-Z0-9_]*$/.test(first) ? KNOWN_ENV.has(first) : FIELDS.has(first);
    assert.ok(known, `${flag} maps to "${first}", which is neither a listing field nor a variable`);
  }
  for (const flag of ['--repo', '--ref', '--root', '--link', '--period', '--depth', '--submodules', '--sparse-checkout-file', '--ssh-key-file', '--ssh-known-hosts-file', '--password-file', '--webhook-url', '--exechook-command', '--http-bind', '--max-failures', '--one-time', '--git-config', '--stale-worktree-timeout']) {
    assert.ok(rows.some((r) => r[0].includes(`\`${flag}\``)), `${flag} is in the table`);
  }
});

test('troubleshooting explains every error kind the daemon reports', () => {
  const text = read('docs/troubleshooting.md');
  const rows = new Set([...text.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]!));
  assert.deepEqual([...rows].sort(), [...SYNC_ERROR_KINDS].sort());
});

test('files and pages the docs name exist', () => {
  for (const file of docs) {
    const text = read(file);
    for (const m of text.matchAll(/`((?:example|docs|libexec|schema|src|test|\.ci|\.github)\/[^`\s]*)`/g)) {
      assert.ok(existsSync(join(root, m[1]!)), `${file} names ${m[1]}`);
    }
    for (const m of text.matchAll(/\]\(([^)#:]+\.md)(#[^)]*)?\)/g)) {
      assert.ok(existsSync(join(root, 'docs', m[1]!)), `${file} links to ${m[1]}`);
    }
  }
});
