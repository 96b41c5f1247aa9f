// An agent lets go of simple-git once git has been idle (src/repo-agent/simple-git-module.ts):
// nothing of it stays loaded between syncs, and the next command loads it again and works.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { GitCommandError, GitRunner } from '../../src/repo-agent/git.js';
import { releaseSimpleGit, simpleGitLoads } from '../../src/repo-agent/simple-git-module.js';
import { git } from '../support/git-repo.js';
import { makeTempDir } from '../support/tmp.js';

const require = createRequire(import.meta.url);
const simpleGitFiles = () => Object.keys(require.cache).filter((f) => /[\\/]node_modules[\\/](simple-git|@simple-git|@kwsites|debug)[\\/]/.test(f));

test('git commands load simple-git only when they run, and a release leaves none of it loaded', async (t) => {
  const root = await makeTempDir(t);
  const repo = join(root, 'r');
  await git(root, ['init', '--quiet', '--initial-branch=main', repo]);
  const runner = new GitRunner(repo);
  const before = simpleGitLoads().loads;
  assert.equal((await runner.run(['rev-parse', '--is-inside-work-tree'], { timeoutMs: 30_000 })).trim(), 'true');
  assert.equal(simpleGitLoads().loaded, true);
  assert.ok(simpleGitFiles().length > 0, 'simple-git is in require.cache while in use');

  releaseSimpleGit();
  assert.deepEqual(simpleGitLoads(), { loads: before + 1, loaded: false });
  assert.deepEqual(simpleGitFiles(), [], 'nothing of simple-git is left in require.cache');

  // The same runner works again, loading it anew, and its failures keep their shape.
  assert.equal((await runner.run(['rev-parse', '--is-inside-work-tree'], { timeoutMs: 30_000 })).trim(), 'true');
  assert.equal(simpleGitLoads().loads, before + 2);
  const err = await runner.run(['rev-parse', '--verify', 'no-such-ref^{commit}'], { timeoutMs: 30_000 }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof GitCommandError, String(err));
  assert.equal(err.exitCode, 128);
  releaseSimpleGit();
});

test('simple-git is not let go while a command runs', async (t) => {
  const root = await makeTempDir(t);
  const repo = join(root, 'r');
  await git(root, ['init', '--quiet', repo]);
  const runner = new GitRunner(repo);
  const running = runner.run(['status', '--porcelain'], { timeoutMs: 30_000 });
  releaseSimpleGit();
  assert.equal(simpleGitLoads().loaded, true, 'kept under a running command');
  await running;
  releaseSimpleGit();
  assert.equal(simpleGitLoads().loaded, false);
});
