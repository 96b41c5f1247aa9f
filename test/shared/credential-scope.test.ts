// Issue #13: a credential's scope matches URLs by git's own `credential.<url>` rules. Each rule is
// checked against git itself: git is given the scope the way the agent gives it
// (GIT_CONFIG_COUNT, `credential.<scope>.helper`, in an empty HOME) and `git credential fill`
// shows whether git calls that helper for the URL. So these tests prove we agree with git, not
// with ourselves.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { credentialFor, credentialScope, originScope, scopeMatches, type ScopedCredential } from '../../src/shared/credential-scope.js';
import { makeTempDir } from '../support/tmp.js';

/** Whether git, asked for `url`, calls the helper configured for `scope`. */
async function gitCallsHelper(home: string, scope: string, url: string): Promise<boolean> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'credential.helper',
    GIT_CONFIG_VALUE_0: '',
    GIT_CONFIG_KEY_1: `credential.${scope}.helper`,
    GIT_CONFIG_VALUE_1: '!f() { echo username=from-helper; echo password=p; }; f',
  };
  const child = spawn('git', ['credential', 'fill'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.resume();
  child.stdin.end(`url=${url}\n\n`);
  await new Promise((resolve) => child.once('close', resolve));
  // Without the helper git would prompt; GIT_TERMINAL_PROMPT=0 makes that fail instead.
  return /^username=from-helper$/m.test(out);
}

function scopeOf(url: string): string {
  const s = credentialScope(url);
  assert.ok('scope' in s, `${url}: ${'reason' in s ? s.reason : ''}`);
  return s.scope;
}

// [scope as a user writes it, URL git asks for, whether it matches]
const RULES: Array<[string, string, boolean, string]> = [
  ['http://h.example/', 'http://h.example/team/x.git', true, 'same origin, any path'],
  ['https://h.example/', 'http://h.example/x.git', false, 'scheme differs'],
  ['http://h.example/', 'https://h.example/x.git', false, 'scheme differs (the other way)'],
  ['HTTP://h.example/', 'http://h.example/x.git', true, 'scheme compared without case'],
  ['http://H.Example.COM/', 'http://h.example.com/x.git', true, 'upper-case host in the scope'],
  ['http://h.example.com/', 'http://H.EXAMPLE.com/x.git', true, 'upper-case host in the URL'],
  ['http://h.example/', 'http://g.example/x.git', false, 'host differs'],
  ['http://h.example/', 'http://h.example.evil/x.git', false, 'host is a string-prefix of another host'],
  ['http://h.example:80/', 'http://h.example/x.git', true, 'default http port written in the scope'],
  ['https://h.example/', 'https://h.example:443/x.git', true, 'default https port written in the URL'],
  ['http://h.example/', 'http://h.example:8080/x.git', false, 'the URL has another port'],
  ['http://h.example:8080/', 'http://h.example/x.git', false, 'the scope has another port'],
  ['http://127.0.0.1:1234/', 'http://127.0.0.1:1235/x.git', false, 'loopback, other port = other origin'],
  ['https://h.example:80/', 'https://h.example/x.git', false, 'port 80 is not https\'s default'],
  ['http://h.example/org', 'http://h.example/org/x.git', true, 'path prefix without a trailing slash'],
  ['http://h.example/org/', 'http://h.example/org/x.git', true, 'path prefix with a trailing slash'],
  ['http://h.example/org', 'http://h.example/org', true, 'the path itself'],
  ['http://h.example/org/', 'http://h.example/org', true, 'the path itself, scope with a slash'],
  ['http://h.example/org', 'http://h.example/organisation/x.git', false, 'a string-prefix that is not a path-prefix'],
  ['http://h.example/org', 'http://h.example/org.git', false, 'a string-prefix with a suffix'],
  ['http://h.example/org/team', 'http://h.example/org/x.git', false, 'a longer prefix does not cover its parent'],
  ['http://h.example/Org', 'http://h.example/org/x.git', false, 'paths compare with case'],
  ['http://h.example/org/', 'http://h.example/org//x.git', true, 'an empty segment under the prefix'],
  ['http://h.example/%7Eorg/', 'http://h.example/%7eorg/x.git', true, 'escapes compare without case of their hex'],
  ['http://h.example/%7Eorg/', 'http://h.example/~org/x.git', true, 'an unreserved character and its escape are one'],
  ['http://h.example/~org/', 'http://h.example/%7Eorg/x.git', true, 'an unreserved character and its escape are one (the other way)'],
  ['http://h.example/x/../org/', 'http://h.example/org/x.git', true, 'dot segments resolved'],
  ['http://h.example/org/', 'http://h.example/org?x=1', false, 'a query is part of the path'],
  ['http://h.example/', 'http://h.example/org?x=1', true, 'a query under the whole origin'],
  ['http://[::1]:8080/', 'http://[::1]:8080/x.git', true, 'IPv6 loopback'],
  ['http://[::1]:8080/', 'http://[::2]:8080/x.git', false, 'IPv6, other address'],
  ['http://[::1]/', 'http://[::1]:8080/x.git', false, 'IPv6, other port'],
  ['http://[::1]:8080/', 'http://127.0.0.1:8080/x.git', false, 'IPv6 loopback is not 127.0.0.1'],
];

test('a scope matches the URLs git gives its helper for, by scheme, host, port and path prefix', async (t) => {
  const home = await makeTempDir(t);
  const disagreements: string[] = [];
  for (const [raw, url, expected, rule] of RULES) {
    const scope = scopeOf(raw);
    const byGitRaw = await gitCallsHelper(home, raw, url);
    // The agent hands git the normalised scope: that must mean to git what the user wrote.
    const byGitNormalised = await gitCallsHelper(home, scope, url);
    const ours = scopeMatches(scope, url);
    if (byGitRaw !== expected || byGitNormalised !== expected || ours !== expected) {
      disagreements.push(`${rule}: scope ${raw} (${scope}), url ${url}: expected ${expected}, git ${byGitRaw}, git with ${scope} ${byGitNormalised}, scopeMatches ${ours}`);
    }
  }
  assert.deepEqual(disagreements, []);
});

test('where git and scopeMatches part: userinfo, a trailing dot, IPv6 spellings; never another origin', async (t) => {
  const home = await makeTempDir(t);
  // git asks a helper scoped without a user for a URL that names one (and not at all when the URL
  // carries a password too). scopeMatches says no to both: it only ever sees an entry's own repo,
  // which may not hold userinfo, so the stricter answer costs nothing and sends nothing.
  assert.equal(await gitCallsHelper(home, 'http://h.example/', 'http://bob@h.example/x.git'), true);
  assert.equal(await gitCallsHelper(home, 'http://h.example/', 'http://bob:pw@h.example/x.git'), false);
  assert.equal(scopeMatches('http://h.example/', 'http://bob@h.example/x.git'), false);
  assert.equal(scopeMatches('http://h.example/', 'http://bob:pw@h.example/x.git'), false);
  // Where git and we part (a host's trailing dot, other IPv6 spellings, which the agent hands
  // git already normalised), scopeMatches never says yes where git, given the same scope, says no.
  const edges: Array<[string, string]> = [
    ['http://h.example./', 'http://h.example/x.git'],
    ['http://h.example/', 'http://h.example./x.git'],
    ['http://[0:0::1]:8080/', 'http://[::1]:8080/x.git'],
    ['http://h.example/', 'http://bob@h.example/x.git'],
  ];
  for (const [raw, url] of edges) {
    const scope = scopeOf(raw);
    if (scopeMatches(scope, url)) assert.equal(await gitCallsHelper(home, scope, url), true, `${scope} matched ${url}, git says no`);
  }
  // The one exception: an IPv6 address spelt the long way is the same address to us (WHATWG URL
  // normalises it) and another host to git. Nothing reaches another machine for it.
  assert.equal(scopeMatches('http://[::1]:8080/', 'http://[0:0::1]:8080/x.git'), true);
  assert.equal(await gitCallsHelper(home, 'http://[::1]:8080/', 'http://[0:0::1]:8080/x.git'), false);
});

test('a scope with a user name, a password or a query is refused with the reason', () => {
  const reason = (url: string) => {
    const s = credentialScope(url);
    return 'reason' in s ? s.reason : `accepted as ${s.scope}`;
  };
  assert.match(reason('http://bob@h.example/'), /must not contain a user name or password/);
  assert.match(reason('http://bob:pw@h.example/'), /must not contain a user name or password/);
  assert.match(reason('http://h.example/x?y=1'), /must not have a query or fragment/);
  assert.match(reason('http://h.example/x#y'), /must not have a query or fragment/);
  assert.match(reason('ssh://h.example/'), /must be an http:\/\/ or https:\/\/ URL/);
  assert.match(reason('http://h.example/a b/'), /must not contain spaces or control characters/);
  // Dot segments are resolved (as git resolves them), never kept in a scope.
  assert.equal(reason('http://h.example/a/%2e%2e/b/'), 'accepted as http://h.example/b/');
});

test('normalised scopes: lower-case scheme and host, no default port, a trailing slash', () => {
  assert.equal(scopeOf('HTTPS://Git.Example.COM:443/Team'), 'https://git.example.com/Team/');
  assert.equal(scopeOf('http://127.0.0.1:80'), 'http://127.0.0.1/');
  assert.equal(scopeOf('http://[::1]:8080/org/'), 'http://[::1]:8080/org/');
  assert.equal(scopeOf('http://h.example/%7eorg/a%2fb'), 'http://h.example/~org/a%2Fb/');
  assert.equal(originScope('https://Git.Example.com:443/team/app.git'), 'https://git.example.com/');
  assert.equal(originScope('http://[::1]:8080/x.git'), 'http://[::1]:8080/');
  assert.equal(originScope('ssh://git@h.example/x.git'), null);
});

test('the longest matching prefix wins, whatever the order; of one scope given twice the first wins', () => {
  const c = (url: string, name: string): ScopedCredential => ({ url: scopeOf(url), usernameFile: `/s/${name}-u`, passwordFile: `/s/${name}-p` });
  const list = [c('http://h.example/', 'origin'), c('http://h.example/org/team', 'team'), c('http://h.example/org', 'org'), c('http://h.example/org/', 'org-again')];
  assert.equal(credentialFor(list, 'http://h.example/org/team/x.git')?.usernameFile, '/s/team-u');
  assert.equal(credentialFor(list, 'http://h.example/org/other.git')?.usernameFile, '/s/org-u');
  assert.equal(credentialFor(list, 'http://h.example/organisation/x.git')?.usernameFile, '/s/origin-u');
  assert.equal(credentialFor(list, 'http://h.example:8080/org/x.git'), null);
});
