// A daemon killed with SIGKILL leaves its runtime folder (tokens) in /dev/shm; the next daemon
// started there removes the folders of daemons that are gone, and only those.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const MODULE = fileURLToPath(new URL('../../dist/shared/runtime-dir.js', import.meta.url));

test("a new daemon's runtime folder sweeps away the folders of dead daemons, never a live one's", async (t) => {
  const base = existsSync('/dev/shm') && statSync('/dev/shm').isDirectory() ? '/dev/shm' : tmpdir();
  // A pid that is certainly dead: a process that has exited.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => live.kill('SIGKILL'));
  const deadDir = join(base, `git-autosync-${dead}-AbC123`);
  const liveDir = join(base, `git-autosync-${live.pid}-XyZ789`);
  for (const d of [deadDir, liveDir]) {
    mkdirSync(join(d, 'github-app-x'), { recursive: true, mode: 0o700 });
    t.after(() => rmSync(d, { recursive: true, force: true }));
  }
  const env = { ...process.env };
  delete env.GIT_AUTOSYNC_RUNTIME_DIR;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(MODULE)}); console.log(m.runtimeDir());`], { env, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const made = out.stdout.trim();
  assert.ok(made.startsWith(join(base, `git-autosync-`)), made);
  assert.ok(!existsSync(made), 'its own folder is removed at exit');
  assert.ok(!existsSync(deadDir), "the dead daemon's folder is swept");
  assert.ok(existsSync(liveDir), "a live daemon's folder is left alone");
});
