import assert from 'node:assert/strict';
import { test } from 'node:test';
import { displayUrl, redact, registerSecret } from '../../src/shared/redact.js';

test('userinfo, auth headers and token parameters are removed', () => {
  assert.equal(redact('fatal: https://bob:hunter2@h/r.git failed'), 'fatal: https://***@h/r.git failed');
  assert.equal(redact('Authorization: Basic dXNlcjpwYXNz'), 'Authorization: Basic ***');
  assert.equal(redact('GET /x?access_token=abc123&y=1'), 'GET /x?access_token=***&y=1');
  assert.equal(redact('token ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa used'), 'token *** used');
  assert.equal(redact('ssh://git@h/r.git'), 'ssh://git@h/r.git');
  assert.equal(displayUrl('https://bob:pw@h/r.git'), 'https://h/r.git');
});

test('a registered secret is scrubbed wherever it appears', () => {
  registerSecret('correct-horse-battery');
  assert.equal(redact('auth with correct-horse-battery failed'), 'auth with *** failed');
});
