// Where an idle agent's private memory goes (#20): two agents polling unchanged repositories over
// git:// on 127.0.0.1, beside a bare node and a node that only loaded the agent's modules, all in
// the same run. Agent A is measured from outside (/proc/<pid>/smaps, split by mapping); agent B
// carries bench/support/memory-probe.mjs and reports from inside (process.memoryUsage, V8 heap
// spaces, code, Node's own modules and CommonJS modules loaded at idle). The helper processes an
// agent keeps (the entry lock's flock → sh → cat) are measured too. Results:
// bench/results/agent-memory-latest.json. Last, the sync of a push after simple-git was let go
// against one while it is loaded (what the release costs a push). Run: `npm run build && npx tsx bench/agent-memory.ts`.

import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLI } from '../test/support/agent.js';
import { startGitDaemon } from '../test/support/git-daemon.js';
import { makeTempDir, waitFor } from '../test/support/tmp.js';
import { AGENT_EXEC_ARGV, launchAgent, type AgentProcess } from './support/agent-process.js';
import { spawnMemoryBaselines } from './support/memory-baselines.js';

/** The flags the agents are forked with (BENCH_AGENT_EXEC_ARGV tries others: agent-process.ts). */
const EXEC_ARGV = process.env.BENCH_AGENT_EXEC_ARGV?.split(' ').filter((f) => f !== '') ?? [...AGENT_EXEC_ARGV];
import { benchEnvironment } from './support/environment.js';
import { childrenOf, privateKb, readMemory, type Memory } from './support/proc.js';
import { progressPrinter, requireBuilt } from './support/progress.js';
import { createSmallRepo } from './support/repos.js';
import { RELEASE_AFTER_MS } from '../src/repo-agent/simple-git-module.js';
import { setTimeout as delay } from 'node:timers/promises';
import { runToCompletion, Scope } from './support/scope.js';
import { roundDeep } from './support/stats.js';
import { renderTable } from './support/table.js';

const POLL_INTERVAL_MS = 500;
// 40 s of polls: past RELEASE_AFTER_MS (simple-git-module.ts), when a sync's simple-git is let go.
const IDLE_POLLS = 80;
const RESULTS = fileURLToPath(new URL('./results/agent-memory-latest.json', import.meta.url));
const PROBE = fileURLToPath(new URL('./support/memory-probe.mjs', import.meta.url));

/** Private kB of one process by kind of mapping (smaps): what the kernel charges it alone. */
function privateByMapping(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head !== null) {
      const name = head[1]!.trim();
      kind = name === '' ? 'anonymous (V8 heap, malloc mmap arenas, thread stacks)' : name === '[heap]' ? '[heap] (malloc brk arena)' : name.startsWith('[') ? name : name.endsWith('/node') || /\/node$/.test(name) ? 'node binary' : /\.so/.test(name) ? 'shared libraries' : 'other files';
      continue;
    }
    const m = /^Private_(?:Clean|Dirty):\s+(\d+) kB$/.exec(line);
    if (m !== null) out[kind] = (out[kind] ?? 0) + Number(m[1]);
  }
  return out;
}

/** Private MB (2^20 bytes) of each process measured: the figures the docs quote. */
function privateMbOf(memory: Record<string, Memory>): Record<string, { privateMb: number; pssMb: number }> {
  return Object.fromEntries(Object.entries(memory).map(([k, m]) => [k, { privateMb: privateKb(m) / 1024, pssMb: m.pssKb / 1024 }]));
}

/** Every process below `pid` (the lock holders, a git in flight), with its memory. */
function helpers(pid: number): Array<{ pid: number; comm: string; memory: Memory }> {
  const out: Array<{ pid: number; comm: string; memory: Memory }> = [];
  for (const c of childrenOf(pid)) {
    try {
      out.push({ pid: c, comm: readFileSync(`/proc/${c}/comm`, 'utf8').trim(), memory: readMemory(c) });
    } catch {
      continue;
    }
    out.push(...helpers(c));
  }
  return out;
}

async function idle(agent: AgentProcess): Promise<void> {
  const synced = await agent.find('synced', { timeoutMs: 60_000 });
  let from = synced.index;
  for (let i = 0; i < IDLE_POLLS; i++) from = (await agent.find('unchanged', { from: from + 1, timeoutMs: 30_000 })).index;
}

async function main(scope: Scope): Promise<void> {
  requireBuilt(CLI);
  const startedAt = performance.now();
  const progress = progressPrinter();
  const env = benchEnvironment();
  progress(`${env.node}, ${env.cpus} cpus, load ${env.loadAverageAtStart.join(' ')}, source ${env.source.commit.slice(0, 10)} + ${env.source.uncommittedChanges} changes`);
  const root = await makeTempDir(scope, 'gas-bench-mem-');
  const serveRoot = join(root, 'remotes');
  await mkdir(serveRoot);
  const server = await startGitDaemon(scope, serveRoot);
  const remoteA = (await createSmallRepo(serveRoot, 'mem-a')).repo;
  await createSmallRepo(serveRoot, 'mem-b');

  const { bareNode, withModules } = spawnMemoryBaselines(scope, EXEC_ARGV);

  const entry = (name: string) => ({ path: join(root, name), repo: server.url(name), branch: 'main', interval: POLL_INTERVAL_MS });
  const a = await launchAgent(scope, entry('mem-a'));
  // BENCH_PROBE_OUT keeps the probe's report (and MEMORY_PROBE_SNAPSHOT=1's heap snapshot) after the run.
  const probeOut = process.env.BENCH_PROBE_OUT ?? join(root, 'probe');
  const b = await launchAgent(scope, entry('mem-b'), { env: { NODE_OPTIONS: `--expose-gc --import=${pathToFileURL(PROBE).href}`, MEMORY_PROBE_OUT: probeOut, MEMORY_PROBE_SNAPSHOT: process.env.MEMORY_PROBE_SNAPSHOT ?? '0' } });
  progress(`agents ${a.pid} and ${b.pid}: first sync, then ${IDLE_POLLS} unchanged polls at ${POLL_INTERVAL_MS} ms`);
  await Promise.all([idle(a), idle(b)]);

  const memory = { agentA: readMemory(a.pid), agentB: readMemory(b.pid), bareNode: readMemory(bareNode), nodeWithAgentModules: readMemory(withModules) };
  const mappings = { agentA: privateByMapping(a.pid), bareNode: privateByMapping(bareNode), nodeWithAgentModules: privateByMapping(withModules) };
  const helpersA = helpers(a.pid);
  process.kill(b.pid, 'SIGUSR2');
  const inside = await waitFor(
    () => {
      try {
        return JSON.parse(readFileSync(`${probeOut}.${b.pid}.json`, 'utf8')) as Record<string, unknown>;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10_000, message: 'the probed agent reporting its memory' },
  );
  await b.stop();

  // What letting simple-git go costs a push: the sync of a push that comes after the release
  // (simple-git loaded again) against one that comes right after another sync (still loaded).
  const syncMs = async (i: number) => {
    const from = a.arrivals.length;
    const sha = await remoteA.commit({ 'src/main.txt': `push ${i}\n` }, `push ${i}`);
    return (await a.find('synced', { from, pred: (m) => m.commit === sha, timeoutMs: 60_000 })).message.durationMs;
  };
  const afterRelease: number[] = [];
  const whileLoaded: number[] = [];
  for (let round = 0; round < Number(process.env.BENCH_PUSH_ROUNDS ?? 3); round++) {
    if (round > 0) {
      progress(`push round ${round + 1}: waiting ${RELEASE_AFTER_MS + 2_000} ms for the release`);
      await delay(RELEASE_AFTER_MS + 2_000);
    }
    afterRelease.push(await syncMs(2 * round));
    whileLoaded.push(await syncMs(2 * round + 1));
  }
  await a.stop();
  const pushSync = { afterReleaseMs: afterRelease, whileLoadedMs: whileLoaded };

  const mb = (kb: number) => (kb / 1024).toFixed(1);
  const rows = [
    ['bare node', `${mb(privateKb(memory.bareNode))} MB`, `Pss ${mb(memory.bareNode.pssKb)} MB`],
    ['node + the agent modules (nothing run)', `${mb(privateKb(memory.nodeWithAgentModules))} MB`, `Pss ${mb(memory.nodeWithAgentModules.pssKb)} MB`],
    ['agent A, idle', `${mb(privateKb(memory.agentA))} MB`, `Pss ${mb(memory.agentA.pssKb)} MB`],
    ['agent B, idle (with the probe)', `${mb(privateKb(memory.agentB))} MB`, `Pss ${mb(memory.agentB.pssKb)} MB`],
    ...helpersA.map((h) => [`agent A's child ${h.comm}`, `${mb(privateKb(h.memory))} MB`, `Pss ${mb(h.memory.pssKb)} MB`]),
  ];
  console.log(`\n${renderTable(['process', 'private', 'PSS'], rows)}\n`);
  console.log(`sync of a push, agent A (synced.durationMs): after simple-git was let go ${afterRelease.join(', ')} ms; while loaded ${whileLoaded.join(', ')} ms`);
  console.log('agent A private by mapping (kB):', mappings.agentA);
  console.log('bare node private by mapping (kB):', mappings.bareNode);
  const probe = inside as { memoryUsage: Record<string, number>; heapSpaces: unknown; builtins: string[]; commonJs: string[]; codeStatistics: unknown };
  console.log('agent B from inside:', { memoryUsage: probe.memoryUsage, heapSpaces: probe.heapSpaces, codeStatistics: probe.codeStatistics });
  console.log(`agent B: ${probe.builtins.length} of node's own modules, ${probe.commonJs.length} CommonJS files:`, probe.commonJs.map((f) => f.replace(/^.*node_modules\//, '')).join(' '));
  const results = { generatedAt: new Date().toISOString(), durationS: (performance.now() - startedAt) / 1000, environment: env, figures: privateMbOf(memory), settings: { agentExecArgv: EXEC_ARGV, mallocEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_'))), pollIntervalMs: POLL_INTERVAL_MS, idlePolls: IDLE_POLLS, memoryUnit: 'kB' }, memory, privateByMappingKb: mappings, helpers: helpersA, pushSync, inside };
  await mkdir(join(RESULTS, '..'), { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify(roundDeep(results), null, 2)}\n`);
  console.log(`results written to ${RESULTS}`);
}

const scope = new Scope();
runToCompletion(scope, 'bench', 5 * 60_000, () => main(scope));
