import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCgroup } from '../support/cgroup.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { isAlive } from '../support/fault-git.js';
import { serveRepos } from '../support/served-repos.js';
import { waitFor, type Cleanup } from '../support/tmp.js';

/** `count` repos served over git://, and a listing naming them all. */
async function repos(t: Cleanup, count: number) {
  const s = await serveRepos(t, Object.fromEntries(Array.from({ length: count }, (_, i) => [`r${i}`, { 'v.txt': `${i}\n` }])));
  const heads = new Map(Object.entries(s.heads));
  const entries = JSON.stringify([...heads.keys()].map((n) => ({ path: join(s.data, n), repo: s.git.url(n), branch: 'main' })));
  return { root: s.root, heads, listing: s.listing, entries };
}

/**
 * A real slow start, whatever the machine's load: every agent (and only agents) blocks for
 * `ms` before its first line of code runs, as Node does on a starved CPU or a slow disk.
 */
async function slowAgentStart(root: string, ms: number): Promise<NodeJS.ProcessEnv> {
  const preload = join(root, 'slow-start.cjs');
  await writeFile(preload, `if (process.argv.includes('--agent')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${ms});\n`);
  return { NODE_OPTIONS: `--require ${preload}` };
}

function killAgentsAtEnd(t: Cleanup, d: RunningDaemon): void {
  t.after(() => {
    for (const l of d.lines) if (l.message === 'agent process started' && typeof l.pid === 'number' && isAlive(l.pid)) process.kill(l.pid, 'SIGKILL');
  });
}

const kills = (d: RunningDaemon) => d.lines.filter((l) => /killing it/.test(l.message));

test('an agent slower to start than 15 s, within HEARTBEAT_TIMEOUT, is not killed and publishes', async (t) => {
  const s = await repos(t, 1);
  await writeFile(s.listing, s.entries);
  const d = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', HEARTBEAT_TIMEOUT: '40000', ...(await slowAgentStart(s.root, 17_000)) });
  killAgentsAtEnd(t, d);
  await d.waitForLog((l) => l.message === 'published' && l.commit === s.heads.get('r0'), 'published after a 17 s start', 90_000);
  assert.deepEqual(kills(d), [], 'never killed for being slow to start');
});

test('an agent that does not say hello within HEARTBEAT_TIMEOUT is killed, and the kill says so', async (t) => {
  const s = await repos(t, 1);
  await writeFile(s.listing, s.entries);
  const d = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', HEARTBEAT_TIMEOUT: '2000', ...(await slowAgentStart(s.root, 6_000)) });
  killAgentsAtEnd(t, d);
  const killed = await d.waitForLog((l) => l.message === 'agent did not say hello within the start-up deadline; killing it', 'start-up deadline', 30_000);
  assert.equal(killed.deadlineMs, 2000);
  assert.deepEqual(d.lines.filter((l) => l.message === 'agent stopped sending heartbeats; killing it'), [], 'not reported as lost heartbeats');
  const url = await d.httpUrl();
  const status = await waitFor(
    async () => {
      const st = (await (await fetch(`${url}/status/r0`)).json()) as { agentError: { message: string } | null };
      return st.agentError !== null && st;
    },
    { message: 'agentError in /status' },
  );
  assert.match(status.agentError?.message ?? '', /did not say hello within 2000 ms of start/);
});

test('5 agents in a 0.2-CPU cgroup all start and publish, none killed', async (t) => {
  const cg = makeCgroup(t, 'cpu');
  if ('skip' in cg) {
    t.skip(cg.skip);
    return;
  }
  const s = await repos(t, 5);
  await writeFile(s.listing, '[]');
  const d = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '1000' });
  killAgentsAtEnd(t, d);
  await d.waitForLog((l) => l.message === 'listing loaded', 'empty listing loaded');
  cg.add(d.pid);
  cg.setCpuMax(0.2);
  await writeFile(s.listing, s.entries);
  for (const [name, head] of s.heads) {
    await d.waitForLog((l) => l.message === 'published' && l.repo === name && l.commit === head, `${name} published`, 150_000);
  }
  assert.deepEqual(kills(d), [], 'no agent killed at start-up');
});
