// `npm run demo` as a first-run user sees it: the demo's own story, nothing of git's chatter.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scaled } from '../support/tmp.js';

const demo = fileURLToPath(new URL('../../example/demo.mjs', import.meta.url));

test('the demo publishes three pushes, cleans up, and prints no git warning', async () => {
  const child = spawn(process.execPath, [demo], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), scaled(60_000));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, out);
  assert.equal(out.match(/^>>> push \d: [0-9a-f]{12} published$/gm)?.length, 3, out);
  assert.match(out, /demo done; cleaned up/);
  assert.doesNotMatch(out, /warning:|hint:|You appear to have cloned/i, out);
});
