// The supervisor with many entries, as a process: a reload restarts only what changed, and agents
// start a few at a time (src/supervisor/supervision.ts STARTS_AT_ONCE), required entries first.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { STARTS_AT_ONCE } from '../../src/supervisor/supervision.js';
import { startDaemon, type LogLine } from '../support/daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { makeTempDir, waitFor } from '../support/tmp.js';

const ENTRIES = 16;

async function setup(t: Parameters<typeof makeTempDir>[0]) {
  const root = await makeTempDir(t);
  const remote = await RemoteRepo.create(join(root, 'remotes'), 'site');
  await remote.commit({ 'a.txt': 'a\n' });
  const listing = join(root, 'listing.json');
  // Each entry in a folder of its own: no shared stores, so no entry's agent depends on another's.
  const entries = Array.from({ length: ENTRIES }, (_, i) => ({ path: join(root, 'data', `e${i}`, 'site'), name: `e${i}`, repo: remote.bareDir, branch: 'main', interval: 3_600_000 }));
  return { root, remote, listing, entries };
}

/** Written aside and renamed in, as an editor or a ConfigMap does: never read half-written. */
async function writeListing(file: string, entries: unknown[]): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(entries, null, 2));
  await rename(`${file}.tmp`, file);
}

const started = (lines: LogLine[], repo?: string) => lines.filter((l) => l.message === 'agent process started' && (repo === undefined || l.repo === repo));
const publishedAll = (lines: LogLine[]) => new Set(lines.filter((l) => l.message === 'published').map((l) => l.repo)).size === ENTRIES;

async function pids(base: string): Promise<Map<string, unknown>> {
  const res = await fetch(`${base}/status`);
  return new Map(((await res.json()) as Array<{ name: string; pid: unknown }>).map((s) => [s.name, s.pid]));
}

test(`a reload that edits one entry of ${ENTRIES} restarts that entry's agent and no other`, async (t) => {
  const s = await setup(t);
  await writeListing(s.listing, s.entries);
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, LOG_LEVEL: 'info' });
  const base = await daemon.httpUrl();
  await waitFor(() => publishedAll(daemon.lines), { timeoutMs: 180_000, message: `all ${ENTRIES} entries published; output tail:\n${daemon.output().slice(-3000)}` });
  assert.equal(started(daemon.lines).length, ENTRIES, 'one agent each');
  const before = await pids(base);

  const edited = s.entries.map((e, i) => (i === 7 ? { ...e, interval: 1_800_000 } : e));
  await writeListing(s.listing, edited);
  await daemon.waitForLog((l) => l.message === 'entry changed; agent restarted', 'the edited entry restarted', 60_000);
  await waitFor(() => daemon.lines.filter((l) => l.message === 'published' && l.repo === 'e7').length >= 1 && started(daemon.lines, 'e7').length === 2, {
    timeoutMs: 60_000,
    message: `e7 started again; output tail:\n${daemon.output().slice(-3000)}`,
  });
  // The same bytes again (an editor's save, the periodic re-read): nothing restarts either.
  await writeListing(s.listing, edited);
  const after = await waitFor(
    async () => {
      const p = await pids(base);
      return p.get('e7') !== null && p.get('e7') !== before.get('e7') ? p : null;
    },
    { timeoutMs: 60_000, message: 'e7 running in a new process' },
  );
  assert.deepEqual(daemon.lines.filter((l) => l.message === 'entry changed; agent restarted').map((l) => l.repo), ['e7']);
  assert.equal(started(daemon.lines).length, ENTRIES + 1, 'one more agent process, for e7 alone');
  for (const [name, pid] of before) if (name !== 'e7') assert.equal(after.get(name), pid, `${name} kept its process`);
});

/** The supervisor's children that are agents (forked with --agent). */
function agentPids(supervisor: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${supervisor}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let text = '';
    try {
      text = readFileSync(`/proc/${supervisor}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of text.trim().split(/\s+/).filter((p) => p !== '')) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--agent')) out.push(Number(pid));
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

test(`agents start at most ${STARTS_AT_ONCE} at a time, required entries first`, async (t) => {
  const s = await setup(t);
  // The optional entries come first in the listing; the required ones must still start first.
  const entries = s.entries.map((e, i) => (i < ENTRIES / 2 ? { ...e, required: false } : e));
  await writeListing(s.listing, entries);
  const daemon = startDaemon(t, { LISTING_PATH: s.listing, LOG_LEVEL: 'info' });
  const base = await daemon.httpUrl();
  let most = 0;
  let samples = 0;
  await waitFor(
    async () => {
      // Processes first, then how many of them said hello: an agent that says hello in between
      // only lowers the count, so it never exceeds the truth.
      const forked = agentPids(daemon.pid).length;
      const res = await fetch(`${base}/status`);
      const running = ((await res.json()) as Array<{ agentState: string }>).filter((st) => st.agentState === 'running').length;
      most = Math.max(most, forked - running);
      samples++;
      return publishedAll(daemon.lines);
    },
    { timeoutMs: 180_000, intervalMs: 20, message: `all ${ENTRIES} entries published; output tail:\n${daemon.output().slice(-3000)}` },
  );
  assert.ok(samples > 5, `sampled ${samples} times`);
  assert.ok(most >= 1, 'some agent was seen starting');
  assert.ok(most <= STARTS_AT_ONCE, `${most} agents were between fork and hello at once`);
  const order = started(daemon.lines).map((l) => Number(String(l.repo).slice(1)));
  assert.deepEqual(order.slice(0, ENTRIES / 2).sort((a, b) => a - b), entries.map((_, i) => i).slice(ENTRIES / 2), `required entries forked first: ${order.join(' ')}`);
});
