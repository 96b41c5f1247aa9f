// A group's decisions, pure: when to ask every member to look at its remote (a round), and, once
// each has answered, whether the set they hold is whole and new enough to publish as a generation.
// The effects (folders, links, hooks, messages) are group-folder.ts's and group-sets.ts's.

/** What the group knows of one member, from its agent's reports. */
export interface MemberView {
  name: string;
  /** The commit whose whole tree the member's own link shows; null before its first. */
  commit: string | null;
  /** Why the member cannot offer its current target now (its last sync failed); null when it can. */
  failing: string | null;
  /** When (group ticks) the member's latest finished sync started; -1 before any. */
  syncedFrom: number;
}

/** Commits by member name: one generation's, or a candidate's. */
export type MemberCommits = Readonly<Record<string, string>>;

export interface GroupView {
  members: readonly MemberView[];
  /** The published generation's commits; null before the first. */
  published: MemberCommits | null;
  /** The tick the open round started at; null when none is open. */
  round: number | null;
  /** The candidate set the pre-publish hook refused (setKey), not offered again. */
  vetoed: string | null;
}

export type GroupDecision =
  /** Some member has not finished a sync begun after the round opened. */
  | { kind: 'wait'; for: string[] }
  /** Members failing: the group stays on its last good generation. */
  | { kind: 'held'; by: Array<{ name: string; reason: string }> }
  /** What the members hold is what is published (or what was vetoed). */
  | { kind: 'current' }
  | { kind: 'publish'; commits: MemberCommits };

/** One spelling of a set of commits, independent of member order. */
export function setKey(commits: MemberCommits): string {
  return Object.keys(commits)
    .sort()
    .map((n) => `${n}=${commits[n]}`)
    .join(' ');
}

/** The members' commits, when every member has one. */
export function candidate(members: readonly MemberView[]): MemberCommits | null {
  if (members.some((m) => m.commit === null)) return null;
  return Object.fromEntries(members.map((m) => [m.name, m.commit as string]));
}

/**
 * Pushes to several repositories never land at one instant, so the set is read as a round: every
 * member's sync must have begun after the round opened (after the change that opened it was seen).
 * A member that failed holds the group rather than let a set that was never whole be published.
 */
export function decideGroup(view: GroupView): GroupDecision {
  if (view.round === null) return { kind: 'current' };
  const round = view.round;
  const behind = view.members.filter((m) => m.syncedFrom <= round).map((m) => m.name);
  if (behind.length > 0) return { kind: 'wait', for: behind };
  const failing = view.members.filter((m) => m.failing !== null || m.commit === null);
  if (failing.length > 0) return { kind: 'held', by: failing.map((m) => ({ name: m.name, reason: m.failing ?? 'has no commit checked out yet' })) };
  const set = candidate(view.members);
  if (set === null || view.members.length === 0) return { kind: 'current' };
  const key = setKey(set);
  if (key === view.vetoed || (view.published !== null && key === setKey(view.published))) return { kind: 'current' };
  return { kind: 'publish', commits: set };
}

/**
 * How often one round is begun again because a member published meanwhile; past this the round
 * ends with what it has, or a member whose branch moves on every poll would hold the group for ever.
 */
export const MAX_ROUND_RESTARTS = 5;

/** Why a round may begin (again): news from a member, or someone asking (webhook, /sync, start). */
export type RoundCause =
  /** A member published a new commit to its own link. */
  | 'synced'
  /** A member that failed before this report does not now. */
  | 'recovered'
  /** A webhook or /sync for a member, a signal, start-up or a changed membership. */
  | 'trigger'
  /** An unchanged poll, a failure: never news. */
  | 'other';

/**
 * Whether to (re)open the round: every member is then asked to sync now, and the set is published
 * only once each has answered from a sync begun after that. A member that publishes during a round
 * begins it again, so what is published was read in a round in which nothing moved: a push to A
 * seen first holds the group until B's remote is read after it. An unchanged poll never opens
 * one, or a round's own answers would open the next and the members would sync for ever.
 * `restarts`: how often the open round has been begun again.
 */
export function opensRound(view: GroupView, cause: RoundCause, restarts: number): boolean {
  switch (cause) {
    case 'trigger':
      return true;
    case 'synced':
      return view.round === null || restarts < MAX_ROUND_RESTARTS;
    case 'recovered': {
      if (view.round !== null) return false;
      const set = candidate(view.members);
      if (set === null) return false;
      const key = setKey(set);
      return key !== view.vetoed && (view.published === null || key !== setKey(view.published));
    }
    case 'other':
      return false;
    default: {
      const _never: never = cause;
      return _never;
    }
  }
}

/** A group as /status and /readyz/{group} show it. */
export interface GroupStatus {
  name: string;
  /** The members' shared folder: the group's link. */
  path: string;
  members: string[];
  /** Some member is `required`: the daemon's /readyz waits for the group's first generation. */
  required: boolean;
  /** published: a generation is shown and nothing holds it; waiting: a round is under way; held: a member fails. */
  state: 'waiting' | 'published' | 'held';
  /** The generation readers see; null before the first. */
  generation: number | null;
  /** The commit of every member in that generation. */
  commits: MemberCommits | null;
  publishedAt: string | null;
  /** Members failing: the group stays on its last good generation until they recover. */
  heldBy: Array<{ name: string; reason: string }>;
  /** Members whose sync begun in the open round has not finished. */
  waitingFor: string[];
  /** The candidate set the pre-publish hook refused, until another set is published. */
  vetoed: { commits: MemberCommits; message: string; at: string } | null;
  /** The last publish that failed (a folder in the way, a tree gone), until one succeeds. */
  lastError: { message: string; at: string } | null;
}

/** Why a group is not ready, or null: ready once a generation is shown. */
export function groupNotReadyReason(g: GroupStatus): string | null {
  if (g.generation !== null) return null;
  if (g.heldBy.length > 0) return `no generation published yet; held by ${g.heldBy.map((h) => `"${h.name}" (${h.reason})`).join(', ')}`;
  return g.lastError === null ? 'no generation published yet' : `no generation published yet: ${g.lastError.message}`;
}
