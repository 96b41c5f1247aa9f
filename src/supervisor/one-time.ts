// One-time mode (ONE_TIME=true), for an init container that must not let the app start on
// nothing: every valid entry synced once by its own agent, one summary line each, exit 0 only
// if every entry (valid or not) succeeded.

import type { Log } from '../shared/log.js';
import type { AgentMessage } from '../shared/protocol.js';
import type { SupervisorConfig } from './config.js';
import { ListingError, readListing, type DesiredEntry } from './listing.js';
import { DEFAULT_POLICY, SupervisedAgent } from './supervision.js';

/** Agents at once: enough to overlap network waits, few enough for a small init container. */
const CONCURRENCY = 8;

type Outcome = { ok: true; commit: string; result: 'synced' | 'unchanged' } | { ok: false; reason: string };

export async function runOnce(config: SupervisorConfig, log: Log): Promise<number> {
  let entries: DesiredEntry[];
  let invalid = 0;
  try {
    const listing = await readListing(config.listingPath, config.defaults, { sharedStores: config.sharedStores });
    // One line and one count per bad entry, however many faults it has.
    const byIndex = new Map<number, string[]>();
    for (const e of listing.errors) byIndex.set(e.index, [...(byIndex.get(e.index) ?? []), e.message]);
    for (const [index, messages] of byIndex) log.error('invalid listing entry', { error: messages.join('; '), entry: index + 1 });
    entries = listing.entries;
    invalid = listing.invalidEntries;
  } catch (err) {
    if (!(err instanceof ListingError)) throw err;
    log.error('listing rejected', { error: err.message });
    return 1;
  }
  const outcomes = new Map<string, Outcome>();
  const queue = [...entries];
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) outcomes.set(next.entry.name, await syncOne(next, log));
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker));
  for (const d of entries) {
    const o = outcomes.get(d.entry.name) ?? { ok: false, reason: 'no outcome' };
    if (o.ok) log.info('one-time sync', { repo: d.entry.name, result: o.result, commit: o.commit, path: d.entry.path });
    else log.error('one-time sync failed', { repo: d.entry.name, error: o.reason, path: d.entry.path });
  }
  const succeeded = [...outcomes.values()].filter((o) => o.ok).length;
  const failed = entries.length - succeeded + invalid;
  log.info('one-time run finished', { succeeded, failed, invalid });
  return failed === 0 ? 0 : 1;
}

async function syncOne(desired: DesiredEntry, log: Log): Promise<Outcome> {
  let outcome: Outcome = { ok: false, reason: 'agent exited without reporting' };
  const onMessage = (_a: SupervisedAgent, m: AgentMessage) => {
    if (m.type === 'synced' || m.type === 'unchanged') outcome = { ok: true, commit: m.commit, result: m.type };
    else if (m.type === 'failed') outcome = { ok: false, reason: `${m.error.kind}: ${m.error.message}` };
  };
  const agent = new SupervisedAgent(desired, { log, onMessage, onStateChange: () => undefined, policy: DEFAULT_POLICY, mode: 'once' });
  const done = agent.finished();
  agent.start();
  await done;
  return outcome;
}
