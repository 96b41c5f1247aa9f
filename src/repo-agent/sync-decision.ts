// What one sync does, decided from what is known, with no git and no file system: nothing
// (unchanged), a fetch, or publishing what was fetched. Pure, so every case is a table row.

export type SyncDecision = 'unchanged' | 'fetch' | 'publish';

export interface SyncFacts {
  /** What readers see now (see Publisher.current); `whole` false: the tree is gone or half-written. */
  published: { commit: string | null; whole: boolean };
  /** The commit the remote's ref points at, as asked this sync; null when not asked. */
  remote: string | null;
  /** The commit fetched this sync; null before the fetch. */
  fetched: string | null;
  /**
   * The commit last refused (vetoed by the pre-publish hook, or unverified while the key files
   * are unchanged): not tried again until the remote moves.
   */
  refused: string | null;
}

export function decideSync(f: SyncFacts): SyncDecision {
  // The latest word on what the remote holds: what was fetched, else what the remote said.
  const target = f.fetched ?? f.remote;
  // A tree that is not whole is never "unchanged" (a failed attempt left it): it is retried,
  // even when it already names the target commit.
  const current = f.published.whole ? f.published.commit : null;
  if (current !== null && target !== null && (target === current || target === f.refused)) return 'unchanged';
  return f.fetched === null ? 'fetch' : 'publish';
}
