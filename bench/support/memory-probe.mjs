// Preloaded into an agent by bench/agent-memory.ts (NODE_OPTIONS=--import): on SIGUSR2 it writes
// where the process's memory is, as the process itself sees it, to $MEMORY_PROBE_OUT.<pid>.json.
// Only the probed agent carries it; the figures of record come from an agent without it.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import v8 from 'node:v8';

const out = process.env.MEMORY_PROBE_OUT;
const require = createRequire(import.meta.url);
process.on('SIGUSR2', () => {
  if (out === undefined) return;
  // A full GC first, when exposed: what stays is what the idle agent keeps.
  globalThis.gc?.();
  const report = {
    memoryUsage: process.memoryUsage(),
    heapSpaces: v8.getHeapSpaceStatistics().map((s) => ({ name: s.space_name, usedKb: Math.round(s.space_used_size / 1024), committedKb: Math.round(s.physical_space_size / 1024) })),
    heap: v8.getHeapStatistics(),
    codeStatistics: v8.getHeapCodeStatistics(),
    // Node's own modules loaded so far (an internal list, stable enough for a bench).
    builtins: (process.moduleLoadList ?? []).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length)),
    commonJs: Object.keys(require.cache),
    activeResources: process.getActiveResourcesInfo(),
  };
  writeFileSync(`${out}.${process.pid}.json`, JSON.stringify(report, null, 2));
  // With MEMORY_PROBE_SNAPSHOT=1 also a heap snapshot beside it (for Chrome's memory tab).
  if (process.env.MEMORY_PROBE_SNAPSHOT === '1') v8.writeHeapSnapshot(`${out}.${process.pid}.heapsnapshot`);
});
