// What a hub advertises for each served entry: a namespace of refs in the entry's git directory
// (GIT_NAMESPACE, gitnamespaces(7)) holding only the published commit, as `refs/heads/published`
// (plus the branch the entry follows, so a spoke may name either) with HEAD pointing at it. Refs
// follow publishes, never fetches: a fetched commit that the pre-publish hook or verification
// refused is never advertised. Entries sharing an object store have one namespace each.

import { layoutFor } from '../shared/layout.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Log } from '../shared/log.js';

/** The branch every served entry advertises its published commit as. */
export const SERVED_BRANCH = 'published';

/** Entry names may hold "." (a ref component must not start with one): hex keeps any name a valid ref. */
export const servedNamespace = (name: string): string => `git-autosync-serve-${Buffer.from(name, 'utf8').toString('hex')}`;

/** Where the entry's objects are: its shared store, its own bare repository, or the clone's .git in place. */
export const servedGitDir = (entry: ResolvedEntry): string => entry.store?.dir ?? layoutFor(entry.path, entry.publish).gitDir;

/**
 * The branch an entry follows, as the hub also advertises it (so a spoke's listing may keep the
 * hub's `branch`): `refs/heads/x` or a plain name; null for HEAD, tags, other refs, shas and ranges.
 */
export function followedBranch(ref: string | null): string | null {
  if (ref === null || ref.startsWith('semver:') || /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(ref)) return null;
  if (ref.startsWith('refs/heads/')) return ref.slice('refs/heads/'.length);
  return ref.startsWith('refs/') ? null : ref;
}

/** The branches a served entry advertises its published commit as (HEAD points at the first). */
export function servedBranches(entry: Pick<ResolvedEntry, 'ref'>): string[] {
  const branch = followedBranch(entry.ref);
  return [`refs/heads/${SERVED_BRANCH}`, ...(branch === null || branch === SERVED_BRANCH ? [] : [`refs/heads/${branch}`])];
}

/** The environment every git the serving side runs gets: nothing inherited that could redirect it. */
export function serveGitEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { LC_ALL: 'C', LANG: 'C', GIT_TERMINAL_PROMPT: '0' };
  for (const key of ['PATH', 'HOME', 'USER', 'TMPDIR']) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  return { ...env, ...extra };
}

/** Runs git with `args` (no stdin); rejects with its stderr on failure. */
export type RunGit = (args: string[]) => Promise<void>;

export class ServedRefs {
  /** By entry name: the commit its namespace names now, and the chain of updates in flight. */
  private readonly served = new Map<string, { dir: string; commit: string | null; previous: string | null; pending: Promise<void> }>();

  constructor(
    private readonly runGit: RunGit,
    private readonly log: Log,
  ) {}

  /** The commit the entry's namespace advertises, once every update asked for so far is done. */
  async current(name: string): Promise<string | null> {
    const s = this.served.get(name);
    if (s === undefined) return null;
    await s.pending;
    return s.commit;
  }

  /**
   * May a spoke ask for `oid`? Only the commit advertised now, or the one before it: a spoke that
   * read the refs just before a publish asks for that one next. Protocol v2's upload-pack takes any
   * object id it has (it cannot know what was advertised), so this check is what keeps a fetched
   * but unpublished commit, one the pre-publish hook vetoed, from reaching a spoke.
   */
  allows(name: string, oid: string): boolean {
    const s = this.served.get(name);
    return s !== undefined && (oid === s.commit || oid === s.previous);
  }

  /** Point the entry's namespace at `commit` (its newly published one); updates of one entry run in order. */
  follow(entry: ResolvedEntry, commit: string): Promise<void> {
    const dir = servedGitDir(entry);
    let s = this.served.get(entry.name);
    if (s !== undefined && s.dir !== dir) s = undefined; // the entry moved: start over in its new git dir
    if (s === undefined) {
      s = { dir, commit: null, previous: null, pending: Promise.resolve() };
      this.served.set(entry.name, s);
    }
    const record = s;
    record.pending = record.pending.then(async () => {
      if (record.commit === commit) return;
      const ns = `refs/namespaces/${servedNamespace(entry.name)}`;
      const refs = servedBranches(entry);
      try {
        for (const ref of refs) await this.runGit(['--git-dir', dir, 'update-ref', `${ns}/${ref}`, commit]);
        // Written on each change: cheap, and an interrupted first write is mended by the next.
        await this.runGit(['--git-dir', dir, 'symbolic-ref', `${ns}/HEAD`, `${ns}/refs/heads/${SERVED_BRANCH}`]);
        record.previous = record.commit;
        record.commit = commit;
      } catch (err) {
        // Serving keeps the previous commit (never a newer one than published); the next publish retries.
        this.log.warn('could not advertise the published commit to spokes', { repo: entry.name, commit, error: err instanceof Error ? err.message : String(err) });
      }
    });
    return record.pending;
  }

  /**
   * The entry left the listing: its namespace goes, or in a store shared with other entries its
   * refs would keep its last commit's objects for ever (gc keeps whatever a ref names).
   */
  async withdraw(entry: ResolvedEntry): Promise<void> {
    const s = this.served.get(entry.name);
    this.served.delete(entry.name);
    await s?.pending;
    const dir = servedGitDir(entry);
    const ns = `refs/namespaces/${servedNamespace(entry.name)}`;
    for (const ref of [`${ns}/HEAD`, ...servedBranches(entry).map((b) => `${ns}/${b}`)]) {
      // Absent refs (never served, or a git dir already pruned) are no error of ours.
      await this.runGit(['--git-dir', dir, 'update-ref', '--no-deref', '-d', ref]).catch(() => undefined);
    }
  }
}
