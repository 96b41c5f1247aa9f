// Why reconcile restarts an agent, in words for the log: the user edited the entry, or the entry
// was moved into (or out of) a shared object store because another entry came or went. Pure.

import type { DesiredEntry } from './listing.js';

export type RestartReason = { kind: 'edited' } | { kind: 'store'; reason: string };

/**
 * `previous` is what the agent runs, `next` what the listing wants; `desired` is the whole new
 * listing and `before` what each entry ran before this reload (to tell who joined).
 */
export function restartReason(
  previous: DesiredEntry,
  next: DesiredEntry,
  desired: readonly DesiredEntry[],
  before: (name: string) => DesiredEntry | undefined,
): RestartReason {
  if (JSON.stringify(previous.raw) !== JSON.stringify(next.raw)) return { kind: 'edited' };
  const was = previous.entry.store?.dir ?? null;
  const now = next.entry.store?.dir ?? null;
  if (now === null) return { kind: 'store', reason: 'shared store left' };
  const joiners = desired
    .filter((d) => d.entry.name !== next.entry.name && d.entry.store?.dir === now && before(d.entry.name)?.entry.store?.dir !== now)
    .map((d) => d.entry.name);
  if (was === null && joiners.length > 0) return { kind: 'store', reason: `shared store joined by ${joiners.join(', ')}` };
  return { kind: 'store', reason: was === null ? 'shared store joined' : 'moved to another shared store' };
}
