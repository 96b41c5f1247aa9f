import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import { parseAgentMessage, parseSupervisorMessage, PROTOCOL_VERSION } from '../../src/shared/protocol.js';

const resolved = () => {
  const r = resolveEntry({ path: '/data/site', repo: 'https://h.example/site.git', branch: 'main' }, 0, DEFAULTS);
  if ('errors' in r) throw new Error('fixture entry must be valid');
  return JSON.parse(JSON.stringify(r.entry)) as Record<string, unknown>;
};

test('a configure message with a resolved entry survives the trip through JSON', () => {
  const msg = parseSupervisorMessage({ type: 'configure', protocolVersion: PROTOCOL_VERSION, entry: resolved(), mode: 'continuous', heartbeatMs: 1000 });
  assert.equal(msg?.type, 'configure');
  assert.equal(msg?.type === 'configure' && msg.entry.ref, 'main');
  assert.equal(msg?.type === 'configure' && msg.mode, 'continuous');
});

test('an entry that would inject into git is refused on arrival, even from the supervisor', () => {
  const store = (dir: string, url = 'https://h.example/site.git') => ({ store: { dir, url } });
  const good = parseSupervisorMessage({ type: 'configure', protocolVersion: PROTOCOL_VERSION, entry: { ...resolved(), ...store('/data/.git-autosync-stores/site-0123456789ab.git') }, mode: 'continuous', heartbeatMs: 1000 });
  assert.equal(good?.type, 'configure', 'a store beside the entry is accepted');
  for (const bad of [
    { ref: '--upload-pack=x' },
    { repo: 'ext::sh' },
    { publish: 'nope' },
    { intervalMs: -1 },
    { path: 'relative' },
    // A shared store only ever lives in the hidden folder beside the entry, reached over a safe URL.
    store('/etc/.git-autosync-stores/x.git'),
    store('/data/.git-autosync-stores/../../etc/x.git'),
    store('/database/.git-autosync-stores/x.git'),
    store('/data/.git-autosync-stores/x.git', 'ext::sh -c id'),
  ]) {
    assert.equal(parseSupervisorMessage({ type: 'configure', protocolVersion: PROTOCOL_VERSION, entry: { ...resolved(), ...bad }, mode: 'continuous', heartbeatMs: 1000 }), null, JSON.stringify(bad));
  }
});

test('agent messages are narrowed: malformed ones and unknown error kinds are refused', () => {
  assert.deepEqual(parseAgentMessage({ type: 'unchanged', commit: 'a'.repeat(40), durationMs: 3 }), { type: 'unchanged', commit: 'a'.repeat(40), durationMs: 3 });
  assert.equal(parseAgentMessage({ type: 'synced', commit: 'not-a-sha', previousCommit: null, durationMs: 1, fetched: true }), null);
  assert.equal(parseAgentMessage({ type: 'failed', error: { kind: 'weird', message: 'x' }, consecutiveFailures: 1, retryInMs: 1, durationMs: 1 }), null);
  assert.equal(parseAgentMessage({ type: 'log', level: 'trace', message: 'x', fields: {} }), null);
  assert.equal(parseAgentMessage({ type: 'nope' }), null);
  assert.equal(parseAgentMessage('hello'), null);
});

test('a commit is exactly 40 or 64 hex digits everywhere: 41-63 digits are refused on arrival', async () => {
  const { isObjectId } = await import('../../src/shared/object-id.js');
  for (const n of [40, 64]) assert.ok(parseAgentMessage({ type: 'unchanged', commit: 'a'.repeat(n), durationMs: 1 }), `${n} digits`);
  for (const n of [39, 41, 50, 63, 65]) {
    assert.equal(parseAgentMessage({ type: 'unchanged', commit: 'a'.repeat(n), durationMs: 1 }), null, `${n} digits`);
    assert.equal(isObjectId('a'.repeat(n)), false, `${n} digits`);
  }
  assert.equal(isObjectId('A'.repeat(40)), false, 'git prints lower case');
});

test('the agent applies the listing rules on arrival: unknown fields, "." in sparse, a quote in a key path are refused (#15)', () => {
  const configure = (entry: unknown) => parseSupervisorMessage({ type: 'configure', protocolVersion: PROTOCOL_VERSION, entry, mode: 'continuous', heartbeatMs: 1000 });
  const base = resolved();
  assert.equal(configure(base)?.type, 'configure');
  const creds = base.credentials as Record<string, unknown>;
  const hooks = base.hooks as Record<string, unknown>;
  for (const [what, entry] of [
    ['an unknown top-level field', { ...base, upload: '--upload-pack=x' }],
    ['an unknown credentials field', { ...base, credentials: { ...creds, helper: '!sh' } }],
    ['an unknown hooks field', { ...base, hooks: { ...hooks, shell: 'sh' } }],
    ['sparse "."', { ...base, sparse: ['.'] }],
    ['sparse with an empty segment', { ...base, sparse: ['a//b'] }],
    ['an empty sparse list', { ...base, sparse: [] }],
    ['a single quote in sshKeyFile', { ...base, credentials: { ...creds, sshKeyFile: "/k/it's" } }],
    ['a single quote in knownHostsFile', { ...base, credentials: { ...creds, knownHostsFile: "/k/it's" } }],
    ['a relative passwordFile', { ...base, credentials: { ...creds, usernameFile: '/u', passwordFile: 'p' } }],
    ['a path with ".."', { ...base, path: '/data/../etc' }],
    ['a name that is not a name', { ...base, name: '../x' }],
    ['keep above 100', { ...base, keep: 101 }],
    ['a timeout below 1000 ms', { ...base, timeoutMs: 5 }],
    ['a touchFile with a control character', { ...base, hooks: { ...hooks, touchFile: '/t/a\u0007' } }],
    ['a webhook with a password', { ...base, hooks: { ...hooks, webhook: { url: 'https://u:p@h/x', method: 'POST', timeoutMs: 1000 } } }],
    ['a webhook method other than POST or PUT', { ...base, hooks: { ...hooks, webhook: { url: 'https://h/x', method: 'DELETE', timeoutMs: 1000 } } }],
  ] as const) {
    assert.equal(configure(entry), null, what);
  }
});

test('a progress report is a known phase and two numbers: text, out-of-range percents and fractional bytes are refused', () => {
  const ok = { type: 'progress', progress: { phase: 'receiving', percent: 45, bytes: 12_345 } };
  assert.deepEqual(parseAgentMessage(ok), ok);
  assert.deepEqual(parseAgentMessage({ type: 'progress', progress: { phase: 'counting', percent: null, bytes: null } })?.type, 'progress');
  for (const progress of [
    { phase: 'remote: <script>', percent: 1, bytes: 1 },
    { phase: 'receiving', percent: 101, bytes: 1 },
    { phase: 'receiving', percent: -1, bytes: 1 },
    { phase: 'receiving', percent: '45%', bytes: 1 },
    { phase: 'receiving', percent: 1, bytes: 1.5 },
    { phase: 'receiving', percent: 1, bytes: -1 },
    { phase: 'receiving', percent: 1, bytes: Number.MAX_SAFE_INTEGER + 2 },
    { phase: 'receiving', percent: 1 },
    null,
  ]) {
    assert.equal(parseAgentMessage({ type: 'progress', progress }), null, JSON.stringify(progress));
  }
});

test('the agent refuses a verify block without a key file or with a bad mode on arrival, as the listing does (#18)', () => {
  const configure = (entry: unknown) => parseSupervisorMessage({ type: 'configure', protocolVersion: PROTOCOL_VERSION, entry, mode: 'continuous', heartbeatMs: 1000 });
  const base = resolved();
  assert.equal(configure({ ...base, verify: { mode: 'head', sshAllowedSignersFile: '/k/allowed' } })?.type, 'configure');
  for (const verify of [{ mode: 'head' }, { mode: 'any', gpgKeysFile: '/k' }, { mode: 'tag', gpgKeysFile: 'relative' }, { mode: 'head', gpgKeysFile: '/k', gpgHome: '/root/.gnupg' }, 'yes']) {
    assert.equal(configure({ ...base, verify }), null, JSON.stringify(verify));
  }
});

test('the tag a semver ref resolved to travels with synced and unchanged, and a malformed one is refused (#18)', () => {
  const c = 'a'.repeat(40);
  const tag = { name: 'v1.4.2', version: '1.4.2' };
  assert.deepEqual(parseAgentMessage({ type: 'unchanged', commit: c, durationMs: 1, tag }), { type: 'unchanged', commit: c, durationMs: 1, tag });
  const synced = { type: 'synced', commit: c, previousCommit: null, durationMs: 1, fetched: true, kept: [], tag };
  assert.deepEqual(parseAgentMessage(synced), synced);
  assert.equal(parseAgentMessage({ type: 'unchanged', commit: c, durationMs: 1, tag: { name: 'v1' } }), null);
  assert.equal(parseAgentMessage({ type: 'failed', error: { kind: 'unverified', message: 'x', commit: 'nope' }, consecutiveFailures: 1, retryInMs: 1, durationMs: 1 }), null);
  assert.deepEqual(parseAgentMessage({ type: 'failed', error: { kind: 'unverified', message: 'x', commit: c }, consecutiveFailures: 1, retryInMs: 1, durationMs: 1 }), { type: 'failed', error: { kind: 'unverified', message: 'x', commit: c }, consecutiveFailures: 1, retryInMs: 1, durationMs: 1 });
});
