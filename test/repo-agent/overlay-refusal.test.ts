// A real filesystem that refuses to move `path`: overlayfs, a container's root filesystem, where a
// directory from a lower layer (one built into the image, such as a clone the original tool left
// in /repos/site) cannot be renamed: rename(2) and renameat2(RENAME_EXCHANGE) both fail with EXDEV
// although it is on its parent's filesystem (the start-up check, on fresh folders, passes).
// Taking such a directory over must fail with a config error that names the path and says what
// to do, and leave it exactly as it was; in-place mode, which moves nothing, syncs it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../support/agent.js';
import { oneRemote } from '../support/agent-fixture.js';
import { git } from '../support/git-repo.js';
import type { Cleanup } from '../support/tmp.js';

async function overlay(t: Cleanup, fill: (lower: string) => Promise<void>): Promise<string | null> {
  if (process.getuid?.() !== 0) return null;
  const dir = await mkdtemp(join(tmpdir(), 'gas-overlay-'));
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(dir, d)) as [string, string, string, string];
  await Promise.all([lower, upper, work, merged].map((d) => mkdir(d)));
  await fill(lower);
  try {
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged], { stdio: 'ignore' });
  } catch {
    await rm(dir, { recursive: true, force: true });
    return null;
  }
  t.after(async () => {
    execFileSync('umount', ['-l', merged]);
    await rm(dir, { recursive: true, force: true });
  });
  return merged;
}

const canOverlay = await (async () => {
  const later: (() => unknown)[] = [];
  const ok = (await overlay({ after: (fn) => later.push(fn) }, async () => undefined)) !== null;
  for (const fn of later) await fn();
  return ok;
})();
const skip = canOverlay ? false : 'needs root and overlay mounts (mount -t overlay), which this machine does not allow';

for (const publish of ['symlink', 'exchange'] as const) {
  test(`${publish}: an original clone in an overlay's lower layer is refused with a config error naming it, and left as it was`, { skip }, async (t) => {
    const r = await oneRemote(t, { 'version.txt': '1\n' });
    const merged = (await overlay(t, (lower) => git(lower, ['clone', '--quiet', r.url, join(lower, 'app')]).then(() => undefined)))!;
    const path = join(merged, 'app');
    const agent = await startAgent(t, { path, repo: r.url, branch: 'main', publish });
    const failed = await agent.waitForMessage('failed', undefined, 60_000);
    assert.equal(failed.error.kind, 'config', failed.error.message);
    assert.ok(failed.error.message.includes(path), `names the path: ${failed.error.message}`);
    assert.match(failed.error.message, /EXDEV.*overlayfs.*lower layer.*"publish": "in-place"/);
    const st = await lstat(path);
    assert.ok(st.isDirectory() && !st.isSymbolicLink(), 'path is still the clone');
    assert.equal(await readFile(join(path, 'version.txt'), 'utf8'), '1\n');
    assert.equal((await git(path, ['rev-parse', 'HEAD'])).trim(), r.first, 'the clone is untouched');
  });
}

test('in-place: the same clone in a lower layer is synced where it is', { skip }, async (t) => {
  const r = await oneRemote(t, { 'version.txt': '1\n' });
  const merged = (await overlay(t, (lower) => git(lower, ['clone', '--quiet', r.url, join(lower, 'app')]).then(() => undefined)))!;
  const path = join(merged, 'app');
  const agent = await startAgent(t, { path, repo: r.url, branch: 'main', publish: 'in-place' });
  await agent.waitForMessage('synced', (m) => m.commit === r.first, 60_000);
  const next = await r.remote.commit({ 'version.txt': '2\n' });
  await agent.waitForMessage('synced', (m) => m.commit === next, 60_000);
  assert.equal(await readFile(join(path, 'version.txt'), 'utf8'), '2\n');
});
