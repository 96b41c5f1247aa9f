// What the status page costs the supervisor per view: renderStatusPage for N entries (each with a
// full 20-outcome history, an error and progress), next to JSON.stringify of the same statuses
// (what /status answers), measured in the same run. Run: npm run build && npx tsx bench/status-page.ts [--entries 1000]
// Pure in-process work: no network, no files.

import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { applyAgentMessage, applyStateChange, initialStatus, type RepoStatus } from '../src/supervisor/status.js';
import { renderStatusPage } from '../src/supervisor/status-page.js';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '20' } } });
const N = Number(values.entries);
const ROUNDS = Number(values.rounds);
const now = Date.now();

function status(i: number): RepoStatus {
  let s = initialStatus({ name: `repo-${i}`, path: `/data/repo-${i}`, repo: `https://git.example/org/repo-${i}.git`, ref: 'main', required: true, maxStalenessMs: null, intervalMs: 10_000 });
  s = applyStateChange(s, { from: 'starting', to: 'running', pid: 1000 + i, restarts: 0, failure: null, restartInMs: null }, now - 60_000);
  for (let k = 0; k < 20; k++) {
    const commit = (k.toString(16) + i.toString(16)).padEnd(40, 'a').slice(0, 40);
    s = k % 3 === 0
      ? applyAgentMessage(s, { type: 'failed', error: { kind: 'network', message: `fatal: unable to access 'https://git.example/org/repo-${i}.git/': Connection reset <by peer>` }, consecutiveFailures: 1, retryInMs: 5000, durationMs: 120 }, now - 50_000 + k)
      : applyAgentMessage(s, { type: 'synced', commit, previousCommit: null, durationMs: 300, fetched: true, kept: [] }, now - 50_000 + k);
  }
  return applyAgentMessage(s, { type: 'progress', progress: { phase: 'receiving', percent: 40, bytes: 12_000_000 } }, now);
}

const statuses = Array.from({ length: N }, (_, i) => status(i));

function time(fn: () => string): { medianMs: number; bytes: number } {
  const ms: number[] = [];
  let bytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    bytes = Buffer.byteLength(fn());
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { medianMs: Math.round(ms[Math.floor(ms.length / 2)]! * 100) / 100, bytes };
}

const json = time(() => JSON.stringify(statuses, null, 2));
const page = time(() => renderStatusPage({ statuses, listingLoadedAt: new Date(now).toISOString(), now }));
console.log(JSON.stringify({ entries: N, rounds: ROUNDS, load1: loadavg()[0], baseline_status_json: json, status_page: page }, null, 2));
