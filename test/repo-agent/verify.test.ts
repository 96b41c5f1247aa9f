// `verify` (#18): only commits (and tags) with a good signature by the listing's keys are
// published, checked by git over a real git daemon, with keys made in the test. depth is 1 in
// every test here (TEST_DEFAULTS), the shallow clone the daemon makes by default.

import assert from 'node:assert/strict';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { oneRemote } from '../support/agent-fixture.js';
import { startAgent, type RunningAgent } from '../support/agent.js';
import { publishedCommit, readPublishedFile } from '../support/published.js';
import { gpgAvailable, gpgSigner, sshSigner, writeTrust, type Signer } from '../support/signing.js';
import { waitFor } from '../support/tmp.js';

const syncedTo = (agent: RunningAgent, commit: string) => agent.waitForMessage('synced', (m) => m.commit === commit);
const refused = (agent: RunningAgent, commit: string) => agent.waitForMessage('failed', (m) => m.error.kind === 'unverified' && m.error.commit === commit);

/** A remote whose first commit is signed by `signer`, and the allowed-signers file trusting it. */
async function signedRemote(t: Parameters<typeof oneRemote>[0], make: (dir: string) => Promise<Signer> = (dir) => sshSigner(dir, 'dev')) {
  const fx = await oneRemote(t, { 'version.txt': 'signed 1\n' });
  const keys = join(fx.root, 'keys');
  await mkdir(keys, { recursive: true });
  const signer = await make(keys);
  fx.remote.signing = signer.signing;
  const first = await fx.remote.commit({ 'version.txt': 'signed 1\n' }, 'signed first');
  const trustFile = join(keys, 'trusted');
  await writeTrust(trustFile, [signer]);
  return { ...fx, first, keys, signer, trustFile };
}

/** After a refusal: `polls` more polls pass without another attempt at the refused commit. */
async function notRetried(agent: RunningAgent, polls = 3): Promise<void> {
  const from = agent.messages.length;
  await waitFor(() => agent.messages.slice(from).filter((m) => m.type === 'unchanged').length >= polls, { message: `${polls} polls after the refusal` });
  const again = agent.messages.slice(from).filter((m) => m.type === 'failed' || m.type === 'synced');
  assert.deepEqual(again, [], 'the refused commit is not tried again while the remote and the keys stay as they are');
}

test('an unsigned commit is never published: the previous tree stays, it is not retried, and the next signed commit goes through', async (t) => {
  const s = await signedRemote(t);
  const agent = await startAgent(t, { path: s.path, repo: s.url, branch: 'main', verify: { sshAllowedSignersFile: s.trustFile } });
  await syncedTo(agent, s.first);

  s.remote.signing = null;
  const unsigned = await s.remote.commit({ 'version.txt': 'unsigned\n' });
  const failure = await refused(agent, unsigned);
  assert.match(failure.error.message, new RegExp(`commit ${unsigned.slice(0, 12)} has no good signature by a key of verify\\.sshAllowedSignersFile`));
  assert.equal(publishedCommit(s.path), s.first, 'the previous tree stays published');
  assert.equal(readPublishedFile(s.path, 'version.txt'), 'signed 1\n');
  await notRetried(agent);

  s.remote.signing = s.signer.signing;
  const signed = await s.remote.commit({ 'version.txt': 'signed 2\n' });
  await syncedTo(agent, signed);
  assert.equal(readPublishedFile(s.path, 'version.txt'), 'signed 2\n');
});

test('a commit signed by a key not in the file is refused; rotating that key into the file publishes it without a restart', async (t) => {
  const s = await signedRemote(t);
  const agent = await startAgent(t, { path: s.path, repo: s.url, branch: 'main', verify: { mode: 'head', sshAllowedSignersFile: s.trustFile } });
  await syncedTo(agent, s.first);

  const stranger = await sshSigner(s.keys, 'stranger');
  s.remote.signing = stranger.signing;
  const foreign = await s.remote.commit({ 'version.txt': 'by a stranger\n' });
  const failure = await refused(agent, foreign);
  assert.match(failure.error.message, /no good signature/);
  assert.equal(publishedCommit(s.path), s.first);
  await notRetried(agent, 2);

  // The operator trusts the new key (a rotation): the file is read again on the next poll.
  await appendFile(s.trustFile, `${stranger.trust}\n`);
  await syncedTo(agent, foreign);
  assert.equal(readPublishedFile(s.path, 'version.txt'), 'by a stranger\n');
  assert.equal(agent.child.exitCode, null, 'the same agent, never restarted');
});

test('a good tag signature on an unsigned commit: "tag-and-head" refuses it, "tag" publishes it, and "tag" refuses a lightweight tag', async (t) => {
  const s = await signedRemote(t);
  // The release manager signs the tag, not the commit.
  s.remote.signing = null;
  const commit = await s.remote.commit({ 'version.txt': 'release 1\n' });
  s.remote.signing = s.signer.signing;
  await s.remote.tag('v1', { annotated: true });
  s.remote.signing = null;
  await s.remote.tag('light');

  const both = await startAgent(t, { path: join(s.root, 'data', 'both'), repo: s.url, ref: 'v1', verify: { mode: 'tag-and-head', sshAllowedSignersFile: s.trustFile } });
  const f = await refused(both, commit);
  assert.match(f.error.message, new RegExp(`commit ${commit.slice(0, 12)} has no good signature`), 'the tag passed, the commit did not');
  assert.equal(publishedCommit(join(s.root, 'data', 'both')), null, 'nothing published');

  const tagOnly = await startAgent(t, { path: join(s.root, 'data', 'tag'), repo: s.url, ref: 'v1', verify: { mode: 'tag', sshAllowedSignersFile: s.trustFile } });
  await syncedTo(tagOnly, commit);
  assert.equal(readPublishedFile(join(s.root, 'data', 'tag'), 'version.txt'), 'release 1\n');

  const light = await startAgent(t, { path: join(s.root, 'data', 'light'), repo: s.url, ref: 'light', verify: { mode: 'tag', sshAllowedSignersFile: s.trustFile } });
  const l = await refused(light, commit);
  assert.match(l.error.message, /verify\.mode "tag" needs an annotated tag, but the ref points at a commit/);
});

test('a tag signed by an unknown key is refused in "tag" mode, though its commit is signed by a trusted key', async (t) => {
  const s = await signedRemote(t);
  const signedCommit = s.first;
  const stranger = await sshSigner(s.keys, 'stranger');
  s.remote.signing = stranger.signing;
  await s.remote.tag('v2', { annotated: true, ref: signedCommit });
  const agent = await startAgent(t, { path: s.path, repo: s.url, ref: 'v2', verify: { mode: 'tag', sshAllowedSignersFile: s.trustFile } });
  const f = await refused(agent, signedCommit);
  assert.match(f.error.message, /^tag [0-9a-f]{12} of commit [0-9a-f]{12} has no good signature/);
  assert.equal(publishedCommit(s.path), null);
});

test('in place, an unsigned commit never touches the files readers see', async (t) => {
  const s = await signedRemote(t);
  const agent = await startAgent(t, { path: s.path, repo: s.url, branch: 'main', publish: 'in-place', verify: { sshAllowedSignersFile: s.trustFile } });
  await syncedTo(agent, s.first);
  s.remote.signing = null;
  const unsigned = await s.remote.commit({ 'version.txt': 'unsigned\n', 'new.txt': 'planted\n' });
  await refused(agent, unsigned);
  assert.equal(readPublishedFile(s.path, 'version.txt'), 'signed 1\n');
  assert.equal(readPublishedFile(s.path, 'new.txt'), null, 'no file of the refused commit reached the tree');
});

test("the user's own git and ssh settings cannot vouch for a commit: a global allowedSignersFile trusting the key is ignored", async (t) => {
  const s = await signedRemote(t);
  const stranger = await sshSigner(s.keys, 'stranger');
  // The agent's HOME has a ~/.gitconfig trusting the stranger, and a gpg.ssh.program that would say yes.
  const home = join(s.root, 'home');
  await mkdir(home, { recursive: true });
  const userSigners = join(home, 'allowed');
  await writeTrust(userSigners, [stranger]);
  await writeFile(join(home, '.gitconfig'), `[gpg "ssh"]\n\tallowedSignersFile = ${userSigners}\n\tprogram = /bin/true\n[gpg]\n\tprogram = /bin/true\n`);
  const agent = await startAgent(t, { path: s.path, repo: s.url, branch: 'main', verify: { sshAllowedSignersFile: s.trustFile } }, { env: { HOME: home } });
  await syncedTo(agent, s.first);
  s.remote.signing = stranger.signing;
  const foreign = await s.remote.commit({ 'version.txt': 'by a stranger\n' });
  await refused(agent, foreign);
  assert.equal(publishedCommit(s.path), s.first);
});

test('a missing key file is a config error naming the field, and nothing is published', async (t) => {
  const s = await signedRemote(t);
  const missing = join(s.keys, 'nope');
  const agent = await startAgent(t, { path: s.path, repo: s.url, branch: 'main', verify: { sshAllowedSignersFile: missing } });
  const f = await agent.waitForMessage('failed', (m) => m.error.kind === 'config');
  assert.match(f.error.message, new RegExp(`verify\\.sshAllowedSignersFile ${missing} cannot be read \\(ENOENT\\)`));
  assert.equal(publishedCommit(s.path), null);
});

test('OpenPGP: a commit signed by a key of gpgKeysFile is published, one signed by another key is refused, whatever keyring GNUPGHOME names', { skip: !gpgAvailable && 'gpg is not installed' }, async (t) => {
  const s = await signedRemote(t, (dir) => gpgSigner(t, dir, 'release'));
  const other = await gpgSigner(t, s.keys, 'other');
  // The agent's GNUPGHOME is the other signer's keyring, which holds (and trusts) the other key:
  // verification must use a home of its own with only the listing's keys.
  const agent = await startAgent(t, { path: s.path, repo: s.url, branch: 'main', verify: { gpgKeysFile: s.trustFile } }, { env: { GNUPGHOME: other.signing.env.GNUPGHOME! } });
  await syncedTo(agent, s.first);
  s.remote.signing = other.signing;
  const foreign = await s.remote.commit({ 'version.txt': 'other key\n' });
  const f = await refused(agent, foreign);
  assert.match(f.error.message, /has no good signature by a key of verify\.gpgKeysFile/);
  assert.equal(publishedCommit(s.path), s.first);
  s.remote.signing = s.signer.signing;
  const good = await s.remote.commit({ 'version.txt': 'release 2\n' });
  await syncedTo(agent, good);
});
