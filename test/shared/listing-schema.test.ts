import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry, type ResolvedEntry } from '../../src/shared/listing-schema.js';

function ok(raw: unknown, defaults = DEFAULTS): ResolvedEntry {
  const r = resolveEntry(raw, 0, defaults);
  if ('errors' in r) assert.fail(r.errors.map((e) => e.message).join('\n'));
  return r.entry;
}

function refused(raw: unknown, index = 3, defaults = DEFAULTS): string[] {
  const r = resolveEntry(raw, index, defaults);
  assert.ok('errors' in r, `expected ${JSON.stringify(raw)} to be refused`);
  return r.errors.map((e) => e.message);
}

test('an entry in the original format is accepted unchanged, with defaults applied', () => {
  const e = ok({ path: '/data/site', repo: 'https://github.com/example/site.git', branch: 'main' });
  assert.equal(e.name, 'site');
  assert.equal(e.ref, 'main');
  assert.equal(e.transport, 'https');
  assert.equal(e.publish, 'symlink');
  assert.equal(e.depth, 1);
  assert.equal(e.intervalMs, DEFAULTS.intervalMs);
});

test('every transport we allow is recognised', () => {
  const cases: Array<[string, string]> = [
    ['https://h.example/r.git', 'https'],
    ['http://127.0.0.1:8080/r.git', 'http'],
    ['ssh://git@h.example:2222/r.git', 'ssh'],
    ['git@github.com:org/repo.git', 'ssh'],
    ['git://127.0.0.1/r.git', 'git'],
    ['file:///srv/r.git', 'file'],
    ['/srv/r.git', 'file'],
  ];
  for (const [repo, transport] of cases) assert.equal(ok({ path: '/d/x', repo }).transport, transport, repo);
});

test('a bad entry is refused with its index, its name and the field', () => {
  const [msg] = refused({ path: '/data/payments', repo: 'https://h/r.git', branch: '-x' });
  assert.equal(msg, 'listing entry #4 ("payments"): "branch" must not start with "-" (it would be read as a git option)');
});

test('option injection through repo, branch and ref is refused', () => {
  for (const bad of [
    { repo: '--upload-pack=touch /tmp/pwned' },
    { repo: 'https://h/r.git', branch: '--upload-pack=evil' },
    { repo: 'https://h/r.git', ref: '-c core.sshCommand=evil' },
    { repo: 'https://h/r.git', ref: 'main\n--exec' },
    { repo: 'ext::sh -c touch% /tmp/pwned' },
    { repo: 'fd::3' },
    { repo: 'gopher://h/r' },
    { repo: 'https://h/r.git\u0000' },
    { repo: 'https://h/r.git', ref: 'a..b' },
    { repo: 'https://h/r.git', ref: 'refs/heads/x.lock' },
  ]) {
    const msgs = refused({ path: '/data/x', ...bad });
    assert.ok(msgs.length > 0 && msgs.every((m) => m.startsWith('listing entry #4 ("x"): "')), msgs.join('\n'));
  }
});

test('credentials in the URL are refused and the message points to the file fields', () => {
  const [msg] = refused({ path: '/data/x', repo: 'https://user:s3cret@h/r.git' });
  assert.match(msg!, /"repo" must not contain a password: put it in a file and name it with "passwordFile"/);
  assert.doesNotMatch(msg!, /s3cret/);
});

test('paths must be absolute, normalised and inside SYNC_ROOT when it is set', () => {
  assert.match(refused({ path: 'data/x', repo: '/r' })[0]!, /"path" must be an absolute path/);
  assert.match(refused({ path: '/data/../etc', repo: '/r' })[0]!, /"path" must be normalised/);
  assert.match(refused({ path: '/data/x/', repo: '/r' })[0]!, /"path" must be normalised/);
  const root = { ...DEFAULTS, syncRoot: '/srv/git' };
  assert.match(refused({ path: '/srv/other/x', repo: '/r' }, 0, root)[0]!, /"path" must be inside SYNC_ROOT \(\/srv\/git\)/);
  assert.match(refused({ path: '/srv/git', repo: '/r' }, 0, root)[0]!, /inside SYNC_ROOT/);
  assert.equal(ok({ path: '/srv/git/x', repo: '/r' }, root).path, '/srv/git/x');
});

test('unknown fields are refused by name, so typos are caught', () => {
  assert.match(refused({ path: '/d/x', repo: '/r', brnach: 'main' })[0]!, /unknown field "brnach"/);
});

test('credential fields must match the transport and come in pairs', () => {
  assert.match(refused({ path: '/d/x', repo: 'https://h/r', sshKeyFile: '/k' }).join(), /ssh credentials need an ssh remote/);
  assert.match(refused({ path: '/d/x', repo: 'https://h/r', passwordFile: '/p' }).join(), /"usernameFile" and "passwordFile" go together/);
  assert.match(refused({ path: '/d/x', repo: 'git@h:r', usernameFile: '/u', passwordFile: '/p' }).join(), /http credentials need an http\(s\) remote/);
});

test('branch and ref together must agree; missing fields are named', () => {
  assert.match(refused({ path: '/d/x', repo: '/r', branch: 'a', ref: 'b' }).join(), /give either "branch" or "ref"/);
  assert.match(refused({ path: '/d/x' }).join(), /"repo" is required/);
  assert.match(refused('nope').join(), /must be an object/);
});

test('a sha ref and full refs are accepted as refs', () => {
  assert.equal(ok({ path: '/d/x', repo: '/r', ref: 'a'.repeat(40) }).ref, 'a'.repeat(40));
  assert.equal(ok({ path: '/d/x', repo: '/r', ref: 'refs/tags/v1.0' }).ref, 'refs/tags/v1.0');
  assert.equal(ok({ path: '/d/x', repo: '/r' }).ref, null);
});

test('gitConfig takes allowlisted settings and refuses anything that can run a command or carry a secret', () => {
  assert.deepEqual(ok({ path: '/d/x', repo: '/r', gitConfig: ['core.autocrlf=true', 'http.lowSpeedTime=30', 'pack.threads=1'] }).gitConfig, [
    'core.autocrlf=true',
    'http.lowSpeedTime=30',
    'pack.threads=1',
  ]);
  for (const bad of [
    'core.sshCommand=touch /tmp/x',
    'core.fsmonitor=/tmp/x',
    'credential.helper=/tmp/x',
    'alias.co=!sh -c x',
    'filter.lfs.smudge=x',
    'http.extraHeader=Authorization: Bearer x',
    'include.path=/etc/x',
    'core.hooksPath=/tmp',
    'protocol.ext.allow=always',
    'url.x.insteadOf=y',
    'no-equals-sign',
  ]) {
    const [msg] = refused({ path: '/d/x', repo: '/r', gitConfig: [bad] });
    assert.match(msg!, /"gitConfig\.0" (gitConfig key ".*" is not allowed|gitConfig entry .* must be "key=value")/, bad);
  }
});

test('sparse directories and filters are checked', () => {
  assert.match(refused({ path: '/d/x', repo: '/r', sparse: ['../etc'] })[0]!, /"sparse\.0" sparse directories must be relative/);
  assert.match(refused({ path: '/d/x', repo: '/r', sparse: ['--cone'] })[0]!, /"sparse\.0"/);
  assert.match(refused({ path: '/d/x', repo: '/r', filter: 'sparse:oid=x' })[0]!, /"filter" must be blob:none, tree:0/);
  assert.match(refused({ path: '/d/x', repo: '/r', sparse: ['a'], publish: 'in-place' })[0]!, /"sparse" needs "publish": "symlink"/);
});

test('a field of the wrong type says what type it must be and what it got, not that it is missing', () => {
  const result = resolveEntry({ path: '/d/a', repo: '/r', interval: '2000' }, 0, DEFAULTS);
  assert.ok('errors' in result);
  assert.match(result.errors[0]!.message, /"interval" must be a number \(got a string\)/);
  const missing = resolveEntry({ path: '/d/a' }, 0, DEFAULTS);
  assert.ok('errors' in missing);
  assert.match(missing.errors[0]!.message, /"repo" is required/);
});

test('a timer field above 2^31-1 ms is refused, naming the field, instead of firing at once (#12 item 10)', () => {
  const big = 2 ** 31;
  for (const [field, extra] of [
    ['interval', {}],
    ['timeout', {}],
    ['staleAfter', {}],
    ['maxStaleness', {}],
    ['webhook.timeoutMs', {}],
    ['execHook.timeoutMs', {}],
    ['prePublishHook.timeoutMs', {}],
  ] as const) {
    const [top, sub] = field.split('.') as [string, string | undefined];
    const raw: Record<string, unknown> = { path: '/d/x', repo: '/r', ...extra };
    raw[top] = sub === undefined ? big : { ...(top === 'webhook' ? { url: 'https://h/x' } : { command: ['/bin/true'] }), [sub]: big };
    const msgs = refused(raw, 0);
    assert.ok(msgs.some((m) => m.startsWith(`listing entry #1 ("x"): "${field}" must be at most`)), `${field}: ${msgs.join('; ')}`);
  }
  assert.match(refused({ path: '/d/x', repo: '/r', interval: big })[0]!, /"interval" must be at most 2147483647 ms/);
  assert.equal(ok({ path: '/d/x', repo: '/r', interval: 2 ** 31 - 1 }).intervalMs, 2 ** 31 - 1);
});

test('"branch" is always a branch: a 40- or 64-hex branch name is resolved as refs/heads/<name>, only "ref" pins a sha (#12 item 12)', () => {
  const hex = 'deadbeef'.repeat(5);
  assert.equal(ok({ path: '/d/x', repo: '/r', branch: hex }).ref, `refs/heads/${hex}`);
  assert.equal(ok({ path: '/d/x', repo: '/r', branch: 'ab'.repeat(32) }).ref, `refs/heads/${'ab'.repeat(32)}`);
  assert.equal(ok({ path: '/d/x', repo: '/r', ref: hex }).ref, hex);
  assert.equal(ok({ path: '/d/x', repo: '/r', branch: 'main' }).ref, 'main');
});

test('verify: mode defaults to head, needs a key file, and every field is named when wrong (#18)', () => {
  const base = { path: '/d/site', repo: 'https://h.example/site.git' };
  assert.deepEqual(ok({ ...base, verify: { sshAllowedSignersFile: '/keys/allowed' } }).verify, { mode: 'head', sshAllowedSignersFile: '/keys/allowed', gpgKeysFile: undefined });
  assert.equal(ok(base).verify, null);
  assert.equal(ok({ ...base, verify: { mode: 'tag-and-head', gpgKeysFile: '/keys/pub.asc' } }).verify?.mode, 'tag-and-head');
  assert.match(refused({ ...base, verify: {} }).join('\n'), /^listing entry #4 \("site"\): "verify" needs "sshAllowedSignersFile" or "gpgKeysFile" \(or both\)$/);
  assert.match(refused({ ...base, verify: { mode: 'signed', gpgKeysFile: '/k' } }).join('\n'), /"verify\.mode" Invalid option: expected one of "head"\|"tag"\|"tag-and-head"/);
  assert.match(refused({ ...base, verify: { sshAllowedSignersFile: 'keys/allowed' } }).join('\n'), /"verify\.sshAllowedSignersFile" must be an absolute path/);
  assert.match(refused({ ...base, verify: { gpgKeysFile: "/k/it's" } }).join('\n'), /"verify\.gpgKeysFile" must not contain a single quote/);
  assert.match(refused({ ...base, verify: { gpgKeysFile: '/k', keyring: '/home/me/.gnupg' } }).join('\n'), /unknown field "verify\.keyring" \(check the spelling\)/);
});
