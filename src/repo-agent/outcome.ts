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
}
