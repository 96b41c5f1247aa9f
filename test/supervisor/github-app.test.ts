// The supervisor's GitHub App token cache, in process, against the loopback GitHub API stand-in:
// one request for entries asking together, one more when a token is refused, clear errors.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { GithubAppRef } from '../../src/shared/listing-schema.js';
import type { Log } from '../../src/shared/log.js';
import { GithubAppTokens } from '../../src/supervisor/github-app.js';
import { newAppKey, startGithubApi } from '../support/github-api.js';
import { makeTempDir } from '../support/tmp.js';

const quiet: Log = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

test('the token cache mints once for concurrent entries, and once more when a token is refused', async (t) => {
  const dir = await makeTempDir(t);
  const key = newAppKey();
  const api = await startGithubApi(t, { keys: [key], installations: ['456'] });
  await writeFile(join(dir, 'app.pem'), key.privatePem);
  const ref: GithubAppRef = { issuer: api.appId, issuerField: 'appId', installationId: '456', privateKeyFile: join(dir, 'app.pem'), apiUrl: api.url };
  const tokens = new GithubAppTokens(Date.now, () => join(dir, 'runtime'));

  const first = await Promise.all(Array.from({ length: 5 }, () => tokens.grant(ref, null, quiet)));
  assert.equal(api.minted(), 1, 'five entries asking at once: one request');
  assert.ok(first.every((g) => g.generation === 1 && g.passwordFile === first[0]!.passwordFile));

  // Several agents report the same refused token: one new token for all of them.
  const renewed = await Promise.all(Array.from({ length: 3 }, () => tokens.grant(ref, 1, quiet)));
  assert.equal(api.minted(), 2);
  assert.ok(renewed.every((g) => g.generation === 2));
  // A late report about the old token does not replace the new one.
  assert.equal((await tokens.grant(ref, 1, quiet)).generation, 2);
  assert.equal(api.minted(), 2);

  const wrong = tokens.grant({ ...ref, installationId: '999' }, null, quiet);
  await assert.rejects(wrong, (err: Error & { kind?: string }) => err.kind === 'auth' && err.message.startsWith('"githubApp.installationId" 999:'));
  // Within the hold time, other entries of the bad installation get the same answer without a request.
  const before = api.requests.length;
  await assert.rejects(tokens.grant({ ...ref, installationId: '999' }, null, quiet));
  assert.equal(api.requests.length, before);

  const stranger = newAppKey();
  await writeFile(join(dir, 'other.pem'), stranger.privatePem);
  await assert.rejects(tokens.grant({ ...ref, privateKeyFile: join(dir, 'other.pem') }, null, quiet), (err: Error & { kind?: string }) => err.kind === 'auth' && err.message.startsWith(`"githubApp.appId" ${api.appId}: the GitHub API refused the app's JWT (401`));
  await assert.rejects(tokens.grant({ ...ref, privateKeyFile: join(dir, 'missing.pem') }, null, quiet), (err: Error & { kind?: string }) => err.kind === 'config' && err.message.includes('"githubApp.privateKeyFile"'));
});
