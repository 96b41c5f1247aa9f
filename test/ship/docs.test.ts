// docs/ against the code: listings shown validate, the git-sync table maps to fields and variables
// that exist, troubleshooting covers every error kind, the files and pages it names exist, the
// variables, flags, endpoint answers and measured figures it quotes are the code's and bench's.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SYNC_ERROR_KINDS } from '../../src/shared/errors.js';
import { EVENTS_HEARTBEAT_MS, MAX_EVENT_SUBSCRIBERS } from '../../src/supervisor/events.js';
import { FOLLOW_BACKOFF, FOLLOW_SILENCE_MS } from '../../src/supervisor/follow.js';
import { SERVE_RUNNING, SERVE_WAITING } from '../../src/supervisor/serve-git.js';
import { DEFAULTS, listingEntrySchema, listingJsonSchema } from '../../src/shared/listing-schema.js';
import { flagOf, SETTINGS } from '../../src/shared/settings.js';
import { validateListing } from '../../src/supervisor/listing.js';
import { Metrics } from '../../src/supervisor/metrics.js';
import { startDaemon } from '../support/daemon.js';
import { filesUnder, obj } from '../support/manifests.js';
import { parse as parseYaml } from 'yaml';
import { makeTempDir, waitFor } from '../support/tmp.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const docs = filesUnder(root, 'docs', ['.md']);

const readme = read('README.md');
const envSection = readme.slice(readme.indexOf('### Environment'), readme.indexOf('### Listing'));
const KNOWN_ENV = new Set([...envSection.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!));
const schema = obj(obj(listingJsonSchema().items).properties);
const FIELDS = new Set(Object.keys(listingEntrySchema.shape).flatMap((k) => [k, ...Object.keys(obj(obj(schema[k]).properties)).map((n) => `${k}.${n}`)]));

test("docs/deployment.md's table of publish modes is the README's", () => {
  const table = (text: string, from: string) => {
    const lines = text.slice(text.indexOf(from)).split('\n');
    const start = lines.findIndex((l) => l.startsWith('| | `symlink`'));
    return lines.slice(start, lines.findIndex((l, i) => i > start && !l.startsWith('|'))).join('\n');
  };
  const inReadme = table(readme, '### Publish modes');
  assert.ok(inReadme.includes('`exchange`'), inReadme);
  assert.equal(table(read('docs/deployment.md'), 'The three publish modes'), inReadme);
});

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

test('the alerts the docs name are the rules of example/monitoring/alerts.yml, on series the daemon exports', async () => {
  const rules = (parseYaml(read('example/monitoring/alerts.yml')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap((g) => g.rules);
  const alerts = new Set(rules.map((r) => r.alert));
  const named = [readme, ...docs.map(read)].flatMap((text) => [...text.matchAll(/`(GitAutosync[A-Za-z]+)`/g)].map((m) => m[1]!));
  assert.ok(named.length > 0, 'the docs name no alert');
  for (const name of named) assert.ok(alerts.has(name), `the docs name ${name}, which alerts.yml does not define`);
  // Series names as /metrics exposes them (a histogram's _bucket/_sum/_count included).
  const exported = new Set((await new Metrics().registry.getMetricsAsJSON()).flatMap((m) => [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]));
  for (const r of rules) {
    for (const [series] of r.expr.matchAll(/git_autosync_[a-z_]+/g)) assert.ok(exported.has(series), `${r.alert} uses ${series}, which the daemon does not export`);
  }
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

// Claims checked against the code, not re-read by hand (issue #14) -------------------------------

// Upper-case names in backticks that are git's or the test suite's, not settings of the daemon.
// TEST_SLOWDOWN, UPDATE_SCREENSHOTS, CHROMIUM_PATH: the test suite's own.
const NOT_SETTINGS = new Set(['FETCH_HEAD', 'ORIG_HEAD', 'TEST_SLOWDOWN', 'UPDATE_SCREENSHOTS', 'CHROMIUM_PATH', 'RENAME_EXCHANGE']); // the last: renameat2's flag

test('every variable and flag the docs and examples name is a setting of the table', () => {
  const variables = new Set(SETTINGS.map((s) => s.variable));
  const flags = new Set(SETTINGS.map(flagOf));
  const wrong: string[] = [];
  const ours = ['README.md', ...docs.filter((f) => f !== 'docs/migration.md'), ...filesUnder(root, 'example', ['.yml', '.yaml', '.mjs'])];
  for (const file of ours) {
    const text = read(file);
    // `--flag` in backticks, as the docs write the daemon's flags (migration.md quotes git-sync's).
    for (const m of text.matchAll(/`(--[a-z][a-z-]*)(?:[= ][^`]*)?`/g)) {
      if (['--help', '--agent', '--entry', '--once', '--end-of-options', '--depth', '--flag'].includes(m[1]!) || m[1]!.startsWith('--git')) continue;
      if (!flags.has(m[1]!)) wrong.push(`${file} names the flag ${m[1]}, which git-autosync does not have`);
    }
    for (const m of text.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`/g)) {
      if (/^(GIT_|SSL_|HTTP_PROXY|HTTPS_PROXY|NO_PROXY)/.test(m[1]!) && !variables.has(m[1]!)) continue; // git's and the system's own
      if (m[1]!.startsWith('GIT_AUTOSYNC_')) continue; // what hooks receive
      if (!variables.has(m[1]!) && !NOT_SETTINGS.has(m[1]!)) wrong.push(`${file} names ${m[1]}, which is not a setting (src/shared/settings.ts)`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no doc calls a feature the code has "not implemented"', () => {
  const migration = read('docs/migration.md');
  const line = migration.slice(migration.indexOf('Not implemented yet'));
  assert.doesNotMatch(line.slice(0, line.indexOf('\n\n')), /shared object store/i);
  assert.equal(SETTINGS.find((s) => s.variable === 'SHARED_STORES')?.default, 'true', 'shared stores are on by default');
});

test('the compose example tells the user to prepare the folder compose actually mounts', () => {
  const text = read('example/docker-compose.yml');
  const chown = /chown \S+ (\S+)/.exec(text);
  assert.ok(chown, 'the compose example says which folder to chown');
  const mount = /^\s*- (\.\/[^:]+):\/opt\/repos/m.exec(text);
  assert.ok(mount);
  // The user runs the commands from the repository's root; compose resolves ./ from the file's folder.
  assert.equal(join(root, chown[1]!), join(root, 'example', mount[1]!));
});

test('every figure the README quotes as measured is in bench/results/', () => {
  const blob = readdirSync(join(root, 'bench/results')).filter((f) => f.endsWith('.json')).map((f) => read(`bench/results/${f}`)).join('\n');
  // Every number in the results, as written and in the forms the README rounds to.
  const known = new Set<string>();
  for (const m of blob.matchAll(/-?\d+(?:\.\d+)?/g)) {
    const x = Number(m[0]);
    known.add(m[0]);
    for (const v of [Math.round(x), x.toFixed(1), x.toFixed(2), (x / 1000).toFixed(1), (x * 100).toFixed(2)]) known.add(String(v));
  }
  const section = readme.slice(readme.indexOf('## Measured'), readme.indexOf('## Deploying'));
  const rows = [...section.matchAll(/^\| (?!figure)([^|]+) \| ([^|]+) \| ([^|]+) \|$/gm)].filter((r) => !/^-+$/.test(r[1]!));
  assert.ok(rows.length >= 8, `${rows.length} rows`);
  for (const [, figure, ours, theirs] of rows) {
    for (const n of `${ours} ${theirs}`.replace(/(\d),(\d{3})/g, '$1$2').match(/\d+(?:\.\d+)?/g) ?? []) {
      assert.ok(known.has(n), `README "${figure}": ${n} is not in bench/results/*.json`);
    }
  }
  // The other pages and examples quote no speed of their own: they point at that table.
  for (const file of ['docs/deployment.md', 'example/kubernetes/sidecar.yaml']) {
    assert.doesNotMatch(read(file), /\d ms of CPU|unchanged poll (costs|takes) ~?\d|first sync[^.\n|]*takes \d/, file);
  }
});

test('a daemon started on a listing that does not parse answers /readyz 503 naming (listing), as the docs say', async (t) => {
  assert.match(read('docs/deployment.md'), /started on a listing\s+that does not parse answers `\/readyz` with 503 naming `\(listing\)`/);
  const dir = await makeTempDir(t);
  const listing = join(dir, 'listing.json');
  await writeFile(listing, '[{"path": ');
  const daemon = startDaemon(t, { LISTING_PATH: listing });
  const base = await daemon.httpUrl();
  await daemon.waitForLog((l) => /listing rejected/.test(l.message), 'listing rejected');
  const res = await fetch(`${base}/readyz`);
  assert.equal(res.status, 503);
  const body = (await res.json()) as { failing: Array<{ name: string }> };
  assert.equal(body.failing[0]?.name, '(listing)');
  // …and, as they also say, a listing whose entries are all invalid counts as ready.
  await writeFile(listing, JSON.stringify([{ path: 'not/absolute', repo: 'git://127.0.0.1:1/x' }]));
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, { message: '/readyz 200 on a listing of invalid entries' });
});

test('the event stream\'s limits the docs quote are the code\'s (#17)', () => {
  assert.ok(readme.includes(`a \`: heartbeat\` comment every ${EVENTS_HEARTBEAT_MS / 1000} s`), 'README: heartbeat period');
  const security = read('docs/security.md');
  assert.ok(security.includes(`at most ${MAX_EVENT_SUBSCRIBERS} streams`), 'security.md: stream limit');
  assert.ok(/requests? are counted in `git_autosync_serve_requests_total`/i.test(readme));
});

test("hub and spokes: the limits and timings the README quotes are the code's (#17)", async () => {
  assert.ok(readme.includes(`at most ${SERVE_RUNNING} at once with ${SERVE_WAITING} more waiting`), 'README: upload-pack queue');
  assert.ok(readme.includes(`reconnects\n  after ${FOLLOW_BACKOFF.baseMs / 1000} s, doubling to ${FOLLOW_BACKOFF.capMs / 1000} s`) || readme.includes(`reconnects after ${FOLLOW_BACKOFF.baseMs / 1000} s, doubling to ${FOLLOW_BACKOFF.capMs / 1000} s`), 'README: reconnection backoff');
  assert.ok(readme.includes(`silent for ${FOLLOW_SILENCE_MS / 1000} s (three heartbeats)`) && FOLLOW_SILENCE_MS === 3 * EVENTS_HEARTBEAT_MS, 'README: silence before reopening');
  const metrics = (await new Metrics().registry.getMetricsAsJSON()).map((m) => m.name);
  for (const name of ['git_autosync_serve_requests_total', 'git_autosync_event_subscribers', 'git_autosync_serve_upload_packs', 'git_autosync_follow_stream_connected']) {
    assert.ok(metrics.includes(name) && readme.includes(`\`${name}`), `${name}: exported and in the README`);
  }
});
