// What one sync reports, whichever the publish mode.

export interface SyncOutcome {
  result: 'synced' | 'unchanged';
  commit: string;
  /** Previously published commits still kept on disk (`keep`), newest first. */
  kept?: string[];
  /** The folder holding that commit's files. */
  tree: string;
  previousCommit: string | null;
  fetched: boolean;
  /** For a semver ref: the tag the commit is, and its version. */
  tag?: { name: string; version: string };
}
