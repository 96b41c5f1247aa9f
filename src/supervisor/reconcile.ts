// Desired entries against running agents → what to start, stop and restart. Pure: no processes.

export interface Running {
  name: string;
  fingerprint: string;
}

export interface Desired {
  entry: { name: string };
  fingerprint: string;
}

export type Action<D extends Desired> =
  | { kind: 'start'; desired: D }
  | { kind: 'stop'; name: string }
  /** The entry changed (repo, ref, interval…): a fresh agent picks up the new settings. */
  | { kind: 'restart'; desired: D };

export function reconcile<D extends Desired>(desired: readonly D[], running: readonly Running[]): Action<D>[] {
  const actions: Action<D>[] = [];
  const want = new Map(desired.map((d) => [d.entry.name, d]));
  for (const r of running) {
    const d = want.get(r.name);
    if (d === undefined) actions.push({ kind: 'stop', name: r.name });
    else if (d.fingerprint !== r.fingerprint) actions.push({ kind: 'restart', desired: d });
  }
  const have = new Set(running.map((r) => r.name));
  for (const d of desired) if (!have.has(d.entry.name)) actions.push({ kind: 'start', desired: d });
  return actions;
}

/**
 * The order agents are started in: entries that hold /readyz back (`required`) first, each
 * group in listing order. Agents start a few at a time (supervision.ts), so with thousands of
 * entries the daemon becomes ready once the required ones are up, not after everything.
 */
export function startOrder<A extends { desired: { entry: { required: boolean } } }>(starts: readonly A[]): A[] {
  return [...starts.filter((a) => a.desired.entry.required), ...starts.filter((a) => !a.desired.entry.required)];
}
