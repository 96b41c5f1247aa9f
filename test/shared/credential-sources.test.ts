// The listing fields for minted and fetched credentials (githubApp, askpassUrl, sshKeys): what
// is refused with the field named, and what crosses IPC.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, resolveEntry } from '../../src/shared/listing-schema.js';
import { parseAgentMessage, parseSupervisorMessage, PROTOCOL_VERSION } from '../../src/shared/protocol.js';

const app = { appId: 123, installationId: 456, privateKeyFile: '/secrets/app.pem' };
const https = { path: '/data/site', repo: 'https://github.com/example/site.git' };

function refusals(raw: unknown): string[] {
  const r = resolveEntry(raw, 2, DEFAULTS);
  assert.ok('errors' in r, `expected ${JSON.stringify(raw)} to be refused`);
  return r.errors.map((e) => e.message);
}

test('githubApp, askpassUrl and sshKeys are refused with the entry and the field named', () => {
  assert.deepEqual(refusals({ ...https, githubApp: { installationId: 456, privateKeyFile: '/k.pem' } }), [
    'listing entry #3 ("site"): "githubApp.appId" give either "appId" or "clientId" (the JWT issuer)',
  ]);
  assert.deepEqual(refusals({ ...https, githubApp: { ...app, installationId: 'abc' } }).length, 1);
  assert.match(refusals({ ...https, githubApp: { ...app, apiUrl: 'https://user:pw@ghe.example/api/v3' } })[0]!, /"githubApp\.apiUrl" must not contain a user name or password/);
  assert.match(refusals({ ...https, githubApp: app, usernameFile: '/u', passwordFile: '/p' })[0]!, /"githubApp" give one source of http credentials/);
  assert.match(refusals({ ...https, githubApp: app, askpassUrl: 'http://127.0.0.1:8200/creds' })[0]!, /give one source of http credentials/);
  assert.match(refusals({ path: '/data/site', repo: 'ssh://git@h.example/r.git', githubApp: app })[0]!, /"githubApp" http credentials need an http\(s\) remote/);
  assert.match(refusals({ ...https, askpassUrl: 'file:///etc/passwd' })[0]!, /"askpassUrl" must be an http\(s\) URL/);
  assert.match(refusals({ ...https, sshKeys: [{ host: 'h.example', keyFile: '/k' }] })[0]!, /"sshKeys" ssh credentials need an ssh remote/);
  assert.match(refusals({ path: '/data/site', repo: 'ssh://git@h.example/r.git', sshKeys: [{ host: 'h.example\nProxyCommand x', keyFile: '/k' }] })[0]!, /"sshKeys\.0\.host"/);
  assert.match(refusals({ path: '/data/site', repo: 'ssh://git@h.example/r.git', sshKeyFile: '/k', sshKeys: [{ host: 'h', keyFile: '/k' }] })[0]!, /"sshKeys" give either "sshKeyFile" or "sshKeys"/);
});

test('a resolved githubApp entry crosses IPC, and credential messages are narrowed', () => {
  const r = resolveEntry({ ...https, githubApp: { ...app, apiUrl: 'https://ghe.example/api/v3/' } }, 0, DEFAULTS);
  assert.ok('entry' in r);
  assert.deepEqual(r.entry.credentials.githubApp, { issuer: '123', issuerField: 'appId', installationId: '456', privateKeyFile: '/secrets/app.pem', apiUrl: 'https://ghe.example/api/v3' });
  const entry = JSON.parse(JSON.stringify(r.entry)) as Record<string, unknown>;
  assert.equal(parseSupervisorMessage({ type: 'configure', protocolVersion: PROTOCOL_VERSION, entry, mode: 'continuous', heartbeatMs: 1000 })?.type, 'configure');
  const bad = { ...entry, credentials: { githubApp: { ...r.entry.credentials.githubApp, installationId: '1; rm' } } };
  assert.equal(parseSupervisorMessage({ type: 'configure', protocolVersion: PROTOCOL_VERSION, entry: bad, mode: 'continuous', heartbeatMs: 1000 }), null);

  assert.deepEqual(parseAgentMessage({ type: 'credential-request', id: 1, staleGeneration: null }), { type: 'credential-request', id: 1, staleGeneration: null });
  assert.equal(parseAgentMessage({ type: 'credential-request', id: -1, staleGeneration: null }), null);
  const grant = { usernameFile: '/dev/shm/x/username', passwordFile: '/dev/shm/x/password', generation: 2 };
  assert.deepEqual(parseSupervisorMessage({ type: 'credential', id: 1, grant, error: null }), { type: 'credential', id: 1, grant, error: null });
  assert.equal(parseSupervisorMessage({ type: 'credential', id: 1, grant: { ...grant, passwordFile: 'relative' }, error: null }), null);
  assert.equal(parseSupervisorMessage({ type: 'credential', id: 1, grant, error: { kind: 'auth', message: 'x' } }), null, 'a grant or an error, not both');
});
