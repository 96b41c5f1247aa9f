import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configBlock } from '../../src/repo-agent/sync.js';
import { git } from '../support/git-repo.js';

test('settings written as config text read back identically through git, quotes and backslashes included', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gas-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const settings = { 'remote.origin.url': 'https://h.example/a "quoted" \\path', 'gc.pruneExpire': 'now', 'core.sharedRepository': 'group', 'remote.origin.promisor': null };
  writeFileSync(join(dir, 'config'), configBlock(settings));
  for (const [k, v] of Object.entries(settings)) {
    if (v === null) await assert.rejects(git(dir, ['config', '--file', 'config', k]));
    else assert.equal(await git(dir, ['config', '--file', 'config', k]), v);
  }
});
