import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from '../support/agent.js';
import { makeCgroup } from '../support/cgroup.js';
import { startDaemon, type LogLine, type RunningDaemon } from '../support/daemon.js';
import { isAlive, stallingGit } from '../support/fault-git.js';
import { serveRepos } from '../support/served-repos.js';
import { waitFor, type Cleanup } from '../support/tmp.js';

async function twoRepos(t: Cleanup) {
  const s = await serveRepos(t, { a: { 'v.txt': 'a\n' }, b: { 'v.txt': 'b\n' } });
  const entries = JSON.stringify(['a', 'b'].map((n) => ({ path: join(s.data, n), repo: s.git.url(n), branch: 'main' })));
  return { root: s.root, a: s.repos.a, b: s.repos.b, heads: s.heads, listing: s.listing, entries };
}

const startedPids = (d: RunningDaemon) => d.lines.filter((l) => l.message === 'agent process started').map((l) => l.pid as number);

/** Every agent this daemon started is the test's to kill at the end, should one outlive it. */
function killAgentsAtEnd(t: Cleanup, d: RunningDaemon): void {
  t.after(() => {
    for (const pid of startedPids(d)) if (typeof pid === 'number' && isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
}

test('at the process limit a failed spawn is an agent failure: restarted with backoff, reported, and over when the limit lifts; SIGTERM leaves no agent behind', async (t) => {
  const cg = makeCgroup(t, 'pids');
  if ('skip' in cg) {
    t.skip(cg.skip);
    return;
  }
  const s = await twoRepos(t);
  await writeFile(s.listing, '[]');
  const d = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200' });
  killAgentsAtEnd(t, d);
  const url = await d.httpUrl();
  await d.waitForLog((l) => l.message === 'listing loaded', 'empty listing loaded');
  // The daemon, threads and all, at its limit: one more process (an agent) cannot be made.
  cg.add(d.pid);
  cg.setPidsMax(cg.pidsCurrent());
  await writeFile(s.listing, s.entries);

  const failures = (repo: string) => d.lines.filter((l) => l.message === 'agent spawn failed; restarting it' && l.repo === repo);
  await waitFor(() => failures('a').length >= 3 && failures('b').length >= 3, { timeoutMs: 60_000, message: 'three spawn failures per entry' });
  for (const repo of ['a', 'b']) {
    const times = failures(repo).map((l) => Date.parse(String(l.timestamp)));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // The crash backoff: 1 s, then 2 s (±20% jitter), never a spawn loop.
    assert.ok(gaps[0]! >= 700, `first restart after ${gaps[0]} ms`);
    assert.ok(gaps[1]! >= 1400, `second restart after ${gaps[1]} ms`);
    const attempts = d.lines.filter((l) => (l.message === 'agent spawn failed; restarting it' || l.message === 'agent process started') && l.repo === repo);
    assert.ok(attempts.length <= 5, `${attempts.length} spawns of ${repo} in ${times.at(-1)! - times[0]!} ms`);
    assert.match(String(failures(repo)[0]!.error), /EAGAIN/);
  }
  assert.deepEqual(d.lines.filter((l) => l.message === 'agent process started' && typeof l.pid !== 'number'), [], 'never "started" without a pid');
  const status = (await (await fetch(`${url}/status/a`)).json()) as { state: string; agentError: { message: string } | null };
  assert.equal(status.state, 'restarting', 'the agent could not start: not a failed sync');
  assert.match(status.agentError?.message ?? '', /could not be started: .*EAGAIN/);

  // The limit lifts: the next restart starts each agent, and it publishes.
  cg.setPidsMax('max');
  for (const repo of ['a', 'b'] as const) {
    await d.waitForLog((l) => l.message === 'published' && l.repo === repo && l.commit === s.heads[repo], `${repo} published`, 60_000);
  }
  // At the limit again, SIGTERM: the supervisor stops every agent before it exits.
  cg.setPidsMax(cg.pidsCurrent());
  const agents = startedPids(d);
  assert.equal(await d.stop('SIGTERM'), 0);
  await waitFor(() => agents.every((p) => !isAlive(p)), { timeoutMs: 15_000, message: `no agent of ${agents.join(', ')} survives` });
});

test('kill -9 of the supervisor: its agents exit within seconds, the one mid-fetch too, and take their git along', async (t) => {
  const s = await twoRepos(t);
  const stall = join(s.root, 'stall');
  const stalled = join(s.root, 'stalled-pid');
  const bin = await stallingGit(s.root, stall, stalled);
  await writeFile(s.listing, s.entries);
  const d = startDaemon(t, { LISTING_PATH: s.listing, SCRAPE_INTERVAL: '200', PATH: `${bin}:${process.env.PATH}` });
  killAgentsAtEnd(t, d);
  for (const repo of ['a', 'b'] as const) {
    await d.waitForLog((l: LogLine) => l.message === 'published' && l.repo === repo, `${repo} published`, 60_000);
  }
  await writeFile(stall, '');
  await s.a.commit({ 'v.txt': 'a2\n' });
  // Wait for the pid itself, not the file: read between its creation and its write, the pid was
  // Number('') = 0, and the clean-up's kill(0, SIGKILL) killed this test's own process group.
  const git = await waitFor(
    () => {
      const pid = existsSync(stalled) ? Number(readFileSync(stalled, 'utf8').trim()) : 0;
      return Number.isInteger(pid) && pid > 1 ? pid : 0;
    },
    { timeoutMs: 30_000, message: "a's fetch stalls" },
  );
  t.after(() => {
    if (isAlive(git)) process.kill(git, 'SIGKILL');
  });
  const agents = startedPids(d);
  assert.equal(agents.length, 2);
  await d.stop('SIGKILL');
  await waitFor(() => agents.every((p) => !isAlive(p)), { timeoutMs: 20_000, message: `agents ${agents.join(', ')} exit` });
  await waitFor(() => !isAlive(git), { timeoutMs: 20_000, message: 'the stalled git is killed' });
});

test('an agent whose supervisor dies before configuring it exits', async (t) => {
  // A three-line supervisor: fork an agent, say its pid, never send it anything.
  const script = `const c = require('node:child_process').fork(${JSON.stringify(CLI)}, ['--agent'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] }); c.on('message', (m) => m.type === 'hello' && process.send(c.pid));`;
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.after(() => parent.kill('SIGKILL'));
  const agent = await new Promise<number>((resolve, reject) => {
    parent.once('message', (pid) => resolve(pid as number));
    parent.once('exit', (code) => reject(new Error(`the fixture supervisor exited (${code}) before its agent said hello`)));
  });
  t.after(() => {
    if (isAlive(agent)) process.kill(agent, 'SIGKILL');
  });
  parent.kill('SIGKILL');
  await waitFor(() => !isAlive(agent), { timeoutMs: 20_000, message: `agent ${agent} exits` });
});
