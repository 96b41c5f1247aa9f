import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { normalizeRepoUrl, parsePush, pushMatches, verifySignature } from '../../src/supervisor/webhooks.js';

const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: 'https://github.com/Org/Site.git' } }));
const sig = (secret: string, b: Buffer) => createHmac('sha256', secret).update(b).digest('hex');

test('GitHub and Gitea signatures are HMAC-SHA256 over the raw body; GitLab sends a token', () => {
  assert.ok(verifySignature('github', 's3cret', { 'x-hub-signature-256': `sha256=${sig('s3cret', body)}` }, body));
  assert.ok(!verifySignature('github', 's3cret', { 'x-hub-signature-256': `sha256=${sig('other', body)}` }, body));
  assert.ok(!verifySignature('github', 's3cret', { 'x-hub-signature-256': sig('s3cret', body) }, body), 'prefix required');
  assert.ok(!verifySignature('github', 's3cret', {}, body));
  assert.ok(!verifySignature('github', 's3cret', { 'x-hub-signature-256': `sha256=${sig('s3cret', body)}` }, Buffer.from(`${body.toString()} `)), 'body tampered');
  assert.ok(verifySignature('gitea', 'k', { 'x-gitea-signature': sig('k', body) }, body));
  assert.ok(!verifySignature('gitea', 'k', { 'x-gitea-signature': 'zz' }, body));
  assert.ok(verifySignature('gitlab', 'tok', { 'x-gitlab-token': 'tok' }, body));
  assert.ok(!verifySignature('gitlab', 'tok', { 'x-gitlab-token': 'tok2' }, body));
});

test('push payloads of each provider give the ref and the repo URLs; other events are ignored', () => {
  const gh = parsePush('github', { 'x-github-event': 'push' }, JSON.parse(body.toString()));
  assert.deepEqual(gh, { kind: 'push', ref: 'refs/heads/main', urls: ['https://github.com/Org/Site.git'] });
  assert.equal(parsePush('github', { 'x-github-event': 'issues' }, {}).kind, 'other');
  const gl = parsePush('gitlab', { 'x-gitlab-event': 'Push Hook' }, { ref: 'refs/heads/dev', project: { git_ssh_url: 'git@gitlab.example:g/p.git' } });
  assert.equal(gl.kind === 'push' && gl.urls[0], 'git@gitlab.example:g/p.git');
  assert.equal(parsePush('gitea', { 'x-gitea-event': 'push' }, { ref: 7 }).kind, 'other');
});

test('repo URLs match across schemes, userinfo, ports, case and .git', () => {
  const same = ['https://github.com/Org/Site.git', 'git@github.com:org/site', 'ssh://git@github.com:22/org/site.git', 'http://user@GitHub.com/org/site/', 'git://github.com/org/site'];
  for (const u of same) assert.equal(normalizeRepoUrl(u), 'github.com/org/site', u);
  assert.notEqual(normalizeRepoUrl('https://github.com/org/site-2'), 'github.com/org/site');
});

test('a push concerns an entry when URL and ref match; pinned shas never sync on a push', () => {
  const push = { ref: 'refs/heads/main', urls: ['https://github.com/org/site.git'] };
  assert.ok(pushMatches({ repo: 'git@github.com:org/site.git', ref: 'main' }, push));
  assert.ok(pushMatches({ repo: 'https://github.com/org/site', ref: 'refs/heads/main' }, push));
  assert.ok(pushMatches({ repo: 'https://github.com/org/site', ref: null }, push));
  assert.ok(!pushMatches({ repo: 'https://github.com/org/site', ref: 'dev' }, push));
  assert.ok(!pushMatches({ repo: 'https://github.com/org/other', ref: 'main' }, push));
  assert.ok(!pushMatches({ repo: 'https://github.com/org/site', ref: 'a'.repeat(40) }, push));
  assert.ok(pushMatches({ repo: 'https://github.com/org/site', ref: 'v1' }, { ...push, ref: 'refs/tags/v1' }));
  // A semver entry (#18): any tag may be the new highest in range; a branch push is not a release.
  assert.ok(pushMatches({ repo: 'https://github.com/org/site', ref: 'semver:^1.2' }, { ...push, ref: 'refs/tags/v1.3.0' }));
  assert.ok(!pushMatches({ repo: 'https://github.com/org/site', ref: 'semver:^1.2' }, push));
});
