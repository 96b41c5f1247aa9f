// The settings table (src/shared/settings.ts) against what uses it: the flag parser, `--help` (run
// as a user runs it), the README's Environment table, and the checks in supervisor/config.ts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../../src/shared/listing-schema.js';
import { LOG_LEVELS } from '../../src/shared/log.js';
import { flagOf, SETTINGS, type SettingType } from '../../src/shared/settings.js';
import { loadConfig, mergeFlags } from '../../src/supervisor/config.js';
import { CLI } from '../support/agent.js';
import { startDaemon } from '../support/daemon.js';
import { makeTempDir } from '../support/tmp.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('git-autosync --help lists every flag of the table with its variable and default', () => {
  const { status, stdout } = cli(['--help']);
  assert.equal(status, 0);
  for (const s of SETTINGS) {
    const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`${flagOf(s)} `) || l.trimStart().startsWith(`${flagOf(s)}[`));
    assert.ok(line, `--help shows ${flagOf(s)}`);
    assert.ok(line.includes(s.variable), `${flagOf(s)} names ${s.variable}`);
    if (s.default !== undefined) assert.ok(line.includes(`default ${s.default}`), `${flagOf(s)} shows its default`);
  }
});

test("the README's Environment table is the settings table, row for row", () => {
  const section = readme.slice(readme.indexOf('### Environment'), readme.indexOf('### Listing'));
  const rows = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| (.*) \| (.*) \|$/gm)].map((m) => ({ variable: m[1], description: m[2], default: m[3] }));
  const expected = SETTINGS.map((s) => ({
    variable: s.variable,
    description: s.description,
    default: s.default === undefined ? (s.variable === 'LISTING_PATH' ? '—' : 'unset') : `\`${s.default}\``,
  }));
  assert.deepEqual(rows, expected);
});

test('the defaults in the table are the ones the code uses', () => {
  const config = loadConfig({ LISTING_PATH: '/listing.json' });
  const dflt = (v: string) => SETTINGS.find((s) => s.variable === v)!.default;
  assert.equal(String(config.defaults.intervalMs), dflt('SCRAPE_INTERVAL'));
  assert.equal(String(DEFAULTS.intervalMs), dflt('SCRAPE_INTERVAL'));
  assert.equal(String(config.defaults.timeoutMs), dflt('GIT_TIMEOUT'));
  assert.equal(String(config.defaults.staleAfterMs), dflt('STALE_AFTER'));
  assert.equal(String(config.heartbeatTimeoutMs), dflt('HEARTBEAT_TIMEOUT'));
  assert.equal(`${config.http.host}:${config.http.port}`, dflt('HTTP_BIND'));
  assert.equal(String(config.prune), dflt('PRUNE'));
  assert.equal(String(config.oneTime), dflt('ONE_TIME'));
  assert.equal(String(config.sharedStores), dflt('SHARED_STORES'));
  assert.equal(config.logFormat, dflt('LOG_FORMAT'));
  assert.equal(config.logLevel, dflt('LOG_LEVEL'));
  assert.deepEqual(SETTINGS.find((s) => s.variable === 'LOG_LEVEL')!.values, LOG_LEVELS);
});

const GOOD: Record<SettingType, string> = { path: '/run/x', ms: '5000', boolean: 'true', enum: '', 'host:port': '127.0.0.1:9', signal: 'SIGUSR1', string: 'x' };
const BAD: Record<SettingType, string | undefined> = { path: 'relative/file', ms: 'soon', boolean: 'maybe', enum: 'yaml', 'host:port': 'nowhere', signal: 'SIGNOPE', string: undefined };

test('every setting is a flag: --flag=value and --flag value both set its variable', () => {
  for (const s of SETTINGS) {
    const value = s.type === 'enum' ? s.values!.at(-1)! : GOOD[s.type];
    assert.equal(mergeFlags({}, [`${flagOf(s)}=${value}`])[s.variable], value, flagOf(s));
    if (s.type !== 'boolean') assert.equal(mergeFlags({}, [flagOf(s), value])[s.variable], value, flagOf(s));
    assert.equal(mergeFlags({ [s.variable]: 'from-env' }, [`${flagOf(s)}=${value}`])[s.variable], value, `${flagOf(s)} wins over ${s.variable}`);
  }
});

test('a boolean takes --x, --x=true and --x=false; every other flag needs a value', () => {
  for (const s of SETTINGS.filter((x) => x.type === 'boolean')) {
    assert.equal(mergeFlags({}, [flagOf(s)])[s.variable], 'true');
    // SERVE_GIT=true needs a token file (or an open bind): given here for every boolean alike.
    const base = { LISTING_PATH: '/l', SERVE_TOKEN_FILE: '/token' };
    const on = loadConfig(mergeFlags(base, [`${flagOf(s)}=true`]));
    const off = loadConfig(mergeFlags(base, [`${flagOf(s)}=false`]));
    assert.notDeepEqual(on, off, `${flagOf(s)}=true and =false differ`);
  }
  assert.throws(() => mergeFlags({}, ['--http-bind']), /--http-bind needs a value/);
});

test('every bad value exits 2 with a message naming its variable', () => {
  for (const s of SETTINGS) {
    const bad = BAD[s.type];
    if (bad === undefined || s.variable === 'LISTING_PATH') continue;
    assert.throws(() => loadConfig({ LISTING_PATH: '/l', [s.variable]: bad }), (err: Error) => err.name === 'ConfigError' && err.message.startsWith(`${s.variable}=`), `${s.variable}=${bad}`);
  }
  const r = cli(['--listing-path=/nonexistent.json', '--log-format=yaml']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /LOG_FORMAT="yaml": must be one of json, text/);
});

test('an unknown flag exits 2 and points at --help', () => {
  const r = cli(['--listing-path=/nonexistent.json', '--scrape-intervall=5']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown flag --scrape-intervall; see git-autosync --help/);
  // A flag error is a FlagError by name too (it was called 'ConfigError', the environment's class).
  assert.throws(() => mergeFlags({}, ['--scrape-intervall=5']), (err: Error) => err.name === 'FlagError' && /unknown flag/.test(err.message));
  assert.throws(() => mergeFlags({}, ['--listing-path']), (err: Error) => err.name === 'FlagError' && /needs a value/.test(err.message));
});

test('a timer setting above 2^31-1 ms is refused at start, naming it, instead of firing at once (#12 item 10)', async (t) => {
  // Node clamps a longer setTimeout to 1 ms (TimeoutOverflowWarning): 30 days became ~17 polls a second.
  for (const s of SETTINGS.filter((x) => x.type === 'ms')) {
    assert.throws(() => loadConfig({ LISTING_PATH: '/l', [s.variable]: '2147483648' }), (err: Error) => err.name === 'ConfigError' && err.message.startsWith(`${s.variable}="2147483648": must be at most 2147483647`), s.variable);
    assert.doesNotThrow(() => loadConfig({ LISTING_PATH: '/l', [s.variable]: '2147483647' }), s.variable);
  }
  const root = await makeTempDir(t);
  const listing = join(root, 'listing.json');
  await writeFile(listing, '[]');
  const daemon = startDaemon(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '2592000000' });
  assert.equal(await daemon.exited, 2, daemon.output());
  assert.match(daemon.output(), /SCRAPE_INTERVAL="2592000000": must be at most 2147483647 ms/);
  assert.doesNotMatch(daemon.output(), /TimeoutOverflowWarning/);
});

test('FOLLOW_EVENTS must be a hub events URL over http(s), with no credentials in it', () => {
  for (const [bad, why] of [
    ['not a url', /must be a hub's events URL/],
    ['ftp://hub/events', /must be an http:\/\/ or https:\/\/ URL/],
    ['http://hub:8080/status', /must end in \/events/],
    ['http://user:tok@hub:8080/events', /must not carry credentials; put the token in FOLLOW_TOKEN_FILE/],
  ] as const) {
    assert.throws(() => loadConfig({ LISTING_PATH: '/l', FOLLOW_EVENTS: bad }), (err: Error) => err.name === 'ConfigError' && why.test(err.message) && !err.message.includes('tok@'), bad);
  }
  assert.equal(loadConfig({ LISTING_PATH: '/l', FOLLOW_EVENTS: 'http://hub:8080/events' }).follow?.url.href, 'http://hub:8080/events');
});
