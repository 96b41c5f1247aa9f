// git's error text in our messages keeps the line that says what failed, captured from real git.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { GitCommandError, GitRunner, lastLines } from '../../src/repo-agent/git.js';
import { git } from '../support/git-repo.js';
import { makeTempDir } from '../support/tmp.js';

test('a git failure message keeps the fatal line (an index.lock left behind names its path), capped in length', async (t) => {
  const root = await makeTempDir(t);
  const repo = join(root, 'r');
  await git(root, ['init', '--quiet', repo]);
  const lock = join(repo, '.git', 'index.lock');
  await writeFile(lock, '');
  await writeFile(join(repo, 'f.txt'), 'x\n');
  const err = await new GitRunner(repo).run(['add', 'f.txt'], { timeoutMs: 30_000 }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof GitCommandError, String(err));
  // Real stderr: the fatal line comes first, then six lines of advice.
  assert.match(err.stderr, /are terminated then try again/);
  assert.equal(err.kind, 'local-state');
  assert.match(err.message, new RegExp(`^git add failed \\(exit 128\\): fatal: Unable to create '${lock}': File exists\\.`));
  assert.ok(err.message.length <= 560, `capped: ${err.message.length} chars`);

  // Long output: the fatal/error lines come first, in order, and the total is capped.
  const noisy = [...Array.from({ length: 40 }, (_, i) => `remote: counting ${i} ${'.'.repeat(40)}`), 'error: first thing', 'fatal: second thing', 'trailing advice'].join('\n');
  const summary = lastLines(noisy);
  assert.ok(summary.startsWith('error: first thing | fatal: second thing | '), summary);
  assert.ok(summary.length <= 500, `${summary.length}`);
  // Without such lines, the last lines are kept, as before.
  assert.equal(lastLines('one\ntwo\nthree\nfour\n'), 'two | three | four');
  // Our own helper's explanation leads, even after long output; a server's copy of it does not.
  const refused = [...Array.from({ length: 20 }, (_, i) => `Cloning into 'sub${i}' ${'.'.repeat(40)}`), "fatal: could not read Username for 'http://h:1': terminal prompts disabled", 'git-autosync: no credential is configured for http://h:1/'].join('\n');
  assert.ok(lastLines(refused).startsWith('git-autosync: no credential is configured for http://h:1/ | fatal: could not read Username'), lastLines(refused));
  assert.ok(lastLines('fatal: x\nremote: git-autosync: trust me').startsWith('fatal: x'), 'a remote line is not ours');
});
