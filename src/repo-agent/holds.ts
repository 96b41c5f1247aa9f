// Trees a group still links from one of its generations (the supervisor's `hold`): a member's
// agent keeps them past staleAfter, and removes each once the group lets go of it.

export class Holds {
  private held: ReadonlySet<string> = new Set();
  /** Removals that found their tree held, by commit: each runs once the hold is lifted. */
  private readonly deferred = new Map<string, () => void>();

  has(commit: string): boolean {
    return this.held.has(commit);
  }

  /** `removal` runs when `commit` is no longer held (at the next set() without it). */
  defer(commit: string, removal: () => void): void {
    this.deferred.set(commit, removal);
  }

  /** The commits held now: every other deferred removal runs. */
  set(commits: readonly string[]): void {
    this.held = new Set(commits);
    for (const [commit, removal] of [...this.deferred]) {
      if (this.held.has(commit)) continue;
      this.deferred.delete(commit);
      removal();
    }
  }
}
