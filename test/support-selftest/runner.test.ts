// test/run.mjs under the conditions that once made `npm test` hang after its summary: a file that
// never ends, with a spinning child holding stderr. The runner must end, report the file FAILED
// with the tests that did not run, and leave no process behind.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../support/fault-git.js';
import { makeTempDir, scaled, waitFor } from '../support/tmp.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = join(root, 'test/support-selftest/fixtures/hangs.test.ts');

test('a file that misses its deadline is reported FAILED with the tests that did not run, and nothing it started survives', async (t) => {
  const dir = await makeTempDir(t);
  const pidFile = join(dir, 'pid');
  const runner = spawn(process.execPath, [join(root, 'test/run.mjs'), fixture], {
    cwd: root,
    env: { ...process.env, TEST_FILE_DEADLINE_MS: String(scaled(8_000)), HANGS_PID_FILE: pidFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  runner.stdout.on('data', (d: Buffer) => (out += d.toString()));
  runner.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // 'close', not 'exit': the runner's own output pipes must be released too (that was the hang).
  const closed = new Promise<number | null>((resolve) => runner.once('close', (code) => resolve(code)));
  const code = await waitFor(async () => ({ code: await closed }), { timeoutMs: 120_000, message: `the runner ends; output:\n${out}` });
  assert.equal(code.code, 1, out);
  assert.match(out, /^# FAILED .*hangs\.test\.ts: 2 failed; timed out after \d+ s; did not run: second test hangs with a spinning child; did not run: third test never runs$/m);
  assert.match(out, /^# pass 1$/m);
  assert.match(out, /^# fail 2$/m);
  const spinner = Number(readFileSync(pidFile, 'utf8'));
  await waitFor(() => !isAlive(spinner), { message: `the spinning child ${spinner} is gone` });
});
