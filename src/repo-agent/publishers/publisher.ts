// How a commit's tree reaches readers at `path`: a fresh symlink renamed over it (atomic), or
// the clone at `path` rewritten in place. Chosen once, when the agent starts (strategies.ts);
// RepoSync never asks which.

export interface Published {
  /** The commit readers are shown at `path`; null when nothing of ours is there yet. */
  commit: string | null;
  /**
   * Whether that commit's tree is whole: false for a link whose tree is gone, or a tree an
   * interrupted attempt left half-written. Such a commit is never "unchanged": it is retried.
   */
  whole: boolean;
}

export interface Publisher {
  /** The folder the entry's git runs under, which its lock also holds. */
  readonly home: string;
  /** The outermost folder we write in: it must resolve inside SYNC_ROOT. */
  readonly outermost: string;
  /** Folders we make: each must stay a real folder wherever it exists. */
  readonly folders: readonly string[];
  /** Previously published commits still on disk (`keep`), newest first. */
  readonly kept: string[];
  /** At start: the commit whose whole tree is published (null: none), with leftovers kept or retired. */
  adopt(): Promise<string | null>;
  /** What readers see now. Refuses (throws) where `path` holds something we may not replace. */
  current(): Promise<Published>;
  /** The folder that holds (or will hold) `commit`'s files. */
  treeOf(commit: string): string;
  /** The folder that holds `commit`'s files, filled as the entry asks, before anyone sees it. */
  stage(commit: string, env: Record<string, string>): Promise<string>;
  /** Show readers `tree` (of `commit`); `before` is what current() saw at the start of this sync. */
  publish(commit: string, tree: string, before: Published, env: Record<string, string>): Promise<void>;
  /** `commit`'s staged tree will never be published (the pre-publish hook refused it). */
  discard(commit: string): void;
  /** Stop timers. */
  close(): void;
}
