// Issue #13: a secret read from a credentials file is scrubbed in the forms it takes on the wire
// too: the base64 of "user:password" in a Basic header (a server or proxy echoing it back), the
// URL-encoded password, and the password inside a URL's userinfo.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redact, registerSecret } from '../../src/shared/redact.js';

// Characters that URL-encoding and base64 both change: "@", "/", ":", a space, a non-ASCII letter.
const USER = 'deploy-bot';
const PASSWORD = 'p@ss w/rd:ç-7731';
// As read from a file: with its newline, which registerSecret trims.
registerSecret(`${PASSWORD}\n`, USER);

const basic = Buffer.from(`${USER}:${PASSWORD}`, 'utf8').toString('base64');

test('the base64 of user:password is scrubbed, padded or not, wherever a server echoes it', () => {
  assert.match(basic, /=$/, 'the fixture should need padding, to test both forms');
  assert.equal(redact(`remote error: access denied for Basic ${basic}`), 'remote error: access denied for Basic ***');
  assert.equal(redact(`proxy said: credentials ${basic.replace(/=+$/, '')} refused`), 'proxy said: credentials *** refused');
  assert.equal(redact(`Authorization: Basic ${basic}`), 'Authorization: Basic ***');
  assert.equal(redact(`{"auth":"${basic}"}`), '{"auth":"***"}');
});

test('the URL-encoded password is scrubbed, with %20 or + for its space', () => {
  const encoded = encodeURIComponent(PASSWORD);
  assert.notEqual(encoded, PASSWORD);
  assert.equal(redact(`POST /token body=password=${encoded}&x=1`), 'POST /token body=password=***&x=1');
  assert.equal(redact(`form: pw=${encoded.replace(/%20/g, '+')};`), 'form: pw=***;');
  assert.equal(redact(`raw ${PASSWORD} end`), 'raw *** end');
});

test('a password inside a URL\'s userinfo is scrubbed, encoded or not, and the host kept', () => {
  const encoded = encodeURIComponent(PASSWORD);
  assert.equal(redact(`fatal: unable to access 'https://${USER}:${encoded}@git.example.com/team/app.git/'`), "fatal: unable to access 'https://***@git.example.com/team/app.git/'");
  assert.equal(redact(`http://${USER}:${encoded}@127.0.0.1:8080/x.git`), 'http://***@127.0.0.1:8080/x.git');
  // Not a URL form git would send, but a secret in it is still scrubbed.
  assert.ok(!redact(`see https://${USER}:${PASSWORD}@h.example/x`).includes(PASSWORD));
  // A token in the user part (GitHub's x-access-token form puts it in the password; some put it first).
  assert.equal(redact(`https://${encoded}@h.example/x.git`), 'https://***@h.example/x.git');
  // An ssh user name alone is not a secret and stays.
  assert.equal(redact('ssh://git@h.example/x.git'), 'ssh://git@h.example/x.git');
});

test('no wire form of the secret survives in a long mixed line', () => {
  const line = [
    `Authorization: Basic ${basic}`,
    `echo ${basic.replace(/=+$/, '')}`,
    `url https://${USER}:${encodeURIComponent(PASSWORD)}@h.example/x`,
    `form ${encodeURIComponent(PASSWORD).replace(/%20/g, '+')}`,
    `plain ${PASSWORD}`,
  ].join(' | ');
  const out = redact(line);
  for (const form of [PASSWORD, encodeURIComponent(PASSWORD), basic, basic.replace(/=+$/, '')]) assert.ok(!out.includes(form), `${form} survived in ${out}`);
  assert.ok(out.includes('h.example/x'), out);
});
