// The daemon's own sync counters, read from its /metrics the way Prometheus would.

import { parseMetrics } from '../../test/support/prom.js';

export interface SyncCounts {
  success: number;
  unchanged: number;
  error: number;
  restarts: number;
}

export async function readSyncCounts(baseUrl: string): Promise<SyncCounts> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const samples = parseMetrics(await res.text());
  const sum = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
  return {
    success: sum('git_autosync_sync_total', { result: 'success' }),
    unchanged: sum('git_autosync_sync_total', { result: 'unchanged' }),
    error: sum('git_autosync_sync_total', { result: 'error' }),
    restarts: sum('git_autosync_agent_restarts_total'),
  };
}
