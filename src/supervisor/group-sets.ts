// The listing's groups, each run by the supervisor: its members' reports are folded in, rounds
// opened and closed (groups.ts decides), and whole sets published as generations (group-folder.ts).
// Members keep their own agents, intervals and webhooks; a trigger for any member is the group's.

import { dirname } from 'node:path';
import { backoffDelay } from '../shared/backoff.js';
import { SyncError } from '../shared/errors.js';
import { groupLayout } from '../shared/layout.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Log } from '../shared/log.js';
import type { AgentMessage } from '../shared/protocol.js';
import { redact } from '../shared/redact.js';
import { GroupFolder, type GroupMember } from './group-folder.js';
import { decideGroup, opensRound, setKey, type GroupStatus, type GroupView, type MemberCommits, type MemberView, type RoundCause } from './groups.js';

/** What the group needs of a member's agent. */
export interface MemberAgent {
  readonly name: string;
  syncNow(reason: string): void;
  hold(commits: string[]): void;
}

interface MemberState extends MemberView {
  entry: ResolvedEntry;
  /** When (ticks) the sync under way began; null between syncs. */
  startedAt: number | null;
  /** A commit verification refused: the member's unchanged polls still hold the group. */
  refused: string | null;
}

/** Longest wait before a publish that failed (a folder in the way) is tried again. */
const RETRY_CAP_MS = 60_000;

class Group {
  private readonly members = new Map<string, MemberState>();
  private readonly folder: GroupFolder;
  private tick = 0;
  private round: number | null = null;
  private restarts = 0;
  private generation: { n: number; commits: MemberCommits; at: string } | null = null;
  /** Generations on disk (the shown one, those readers may still be in, one being built). */
  private readonly onDisk = new Map<number, MemberCommits>();
  private readonly retiring = new Map<number, NodeJS.Timeout>();
  private vetoed: { key: string; commits: MemberCommits; message: string; at: string } | null = null;
  /** What the last round that ended held found (logged once per change). */
  private held = '';
  private waitingFor: string[] = [];
  private lastError: { message: string; at: string } | null = null;
  private failures = 0;
  private retry: NodeJS.Timeout | null = null;
  private publishing = false;
  private closed = false;
  /** Resolves once the generation on disk has been read (at start, before members report). */
  readonly adopted: Promise<void>;

  constructor(
    readonly name: string,
    readonly path: string,
    entries: readonly ResolvedEntry[],
    private readonly agent: (name: string) => MemberAgent | undefined,
    private readonly log: Log,
    syncRoot: string | undefined,
  ) {
    this.folder = new GroupFolder(groupLayout(path), syncRoot);
    this.setMembers(entries);
    this.adopted = this.adopt().catch((err: unknown) => this.log.warn('could not read the group\'s generations', { group: name, error: (err as Error).message }));
  }

  /** The listing's members now; a change in who they are, or how, opens a round. */
  setMembers(entries: readonly ResolvedEntry[]): void {
    const before = [...this.members.values()].map((m) => JSON.stringify(m.entry)).sort().join('\n');
    const names = new Set(entries.map((e) => e.name));
    for (const name of [...this.members.keys()]) if (!names.has(name)) this.members.delete(name);
    for (const entry of entries) {
      const m = this.members.get(entry.name);
      // An edited entry restarts its agent, which reports afresh.
      if (m === undefined || JSON.stringify(m.entry) !== JSON.stringify(entry)) {
        this.members.set(entry.name, { name: entry.name, entry, commit: null, failing: null, syncedFrom: -1, startedAt: null, refused: null });
      }
    }
    if ([...this.members.values()].map((m) => JSON.stringify(m.entry)).sort().join('\n') !== before) this.openRound('members changed');
  }

  get memberNames(): string[] {
    return [...this.members.keys()].sort();
  }

  /** A report from one member's agent. */
  onMessage(agent: MemberAgent, msg: AgentMessage): void {
    const m = this.members.get(agent.name);
    if (m === undefined || this.closed) return;
    let cause: RoundCause = 'other';
    switch (msg.type) {
      case 'hello':
        // Before its start-up removes leftovers: the trees our generations link stay.
        agent.hold(this.heldCommits(m.name));
        return;
      case 'ready':
        m.commit = msg.publishedCommit;
        return;
      case 'sync-started':
        m.startedAt = ++this.tick;
        return;
      case 'synced':
      case 'unchanged': {
        const wasFailing = m.failing !== null;
        const moved = msg.type === 'synced' && msg.commit !== m.commit;
        m.commit = msg.commit;
        if (msg.type === 'synced') m.refused = null;
        m.failing = m.refused === null ? null : `verification refused ${m.refused.slice(0, 12)}`;
        m.syncedFrom = m.startedAt ?? ++this.tick;
        m.startedAt = null;
        cause = moved ? 'synced' : wasFailing && m.failing === null ? 'recovered' : 'other';
        break;
      }
      case 'failed':
        m.failing = `${msg.error.kind}: ${msg.error.message}`;
        if (msg.error.kind === 'unverified' && msg.error.commit !== undefined) m.refused = msg.error.commit;
        // A failure to start (the entry's folder, its lock) comes without a sync-started.
        m.syncedFrom = m.startedAt ?? ++this.tick;
        m.startedAt = null;
        break;
      case 'heartbeat':
      case 'progress':
      case 'hook':
      case 'log':
      case 'credential-request':
        return;
      default: {
        const _never: never = msg;
        return _never;
      }
    }
    if (opensRound(this.view(), cause, this.restarts)) this.openRound(`"${m.name}" ${cause === 'synced' ? 'published a new commit' : 'recovered'}`);
    this.evaluate();
  }

  /**
   * A member's agent died (restarting, crash-looping, gave up): it holds the group, and its
   * sync under way never finishes. Its next agent reports afresh.
   */
  onAgentDown(member: string, why: string): void {
    const m = this.members.get(member);
    if (m === undefined || this.closed) return;
    m.failing = `agent down: ${why}`;
    m.syncedFrom = ++this.tick;
    m.startedAt = null;
    this.evaluate();
  }

  /** A webhook, /sync or signal for any member: every member looks at its remote. */
  trigger(reason: string): void {
    if (this.closed) return;
    this.openRound(reason);
    this.evaluate();
  }

  status(): GroupStatus {
    // Live, not the last round's: a member failing now holds every set that would need it.
    const heldBy = [...this.members.values()].filter((m) => m.failing !== null).map((m) => ({ name: m.name, reason: m.failing as string }));
    return {
      name: this.name,
      path: this.path,
      members: this.memberNames,
      required: [...this.members.values()].some((m) => m.entry.required),
      state: heldBy.length > 0 ? 'held' : this.round !== null || this.publishing ? 'waiting' : this.generation === null ? 'waiting' : 'published',
      generation: this.generation?.n ?? null,
      commits: this.generation?.commits ?? null,
      publishedAt: this.generation?.at ?? null,
      heldBy,
      waitingFor: this.round === null ? [] : this.waitingFor,
      vetoed: this.vetoed === null ? null : { commits: this.vetoed.commits, message: this.vetoed.message, at: this.vetoed.at },
      lastError: this.lastError,
    };
  }

  close(): void {
    this.closed = true;
    for (const t of this.retiring.values()) clearTimeout(t);
    this.retiring.clear();
    if (this.retry !== null) clearTimeout(this.retry);
  }

  private view(): GroupView {
    return {
      members: [...this.members.values()].sort((a, b) => a.name.localeCompare(b.name)),
      published: this.generation?.commits ?? null,
      round: this.round,
      vetoed: this.vetoed?.key ?? null,
    };
  }

  private openRound(reason: string): void {
    this.restarts = this.round === null ? 0 : this.restarts + 1;
    this.round = ++this.tick;
    this.log.debug('group round', { group: this.name, reason, restarts: this.restarts });
    for (const name of this.members.keys()) this.agent(name)?.syncNow(`group "${this.name}": ${reason}`);
  }

  private evaluate(): void {
    if (this.publishing || this.closed) return;
    const d = decideGroup(this.view());
    switch (d.kind) {
      case 'wait':
        this.waitingFor = d.for;
        return;
      case 'held': {
        this.round = null;
        const said = this.held;
        this.held = JSON.stringify(d.by);
        if (this.held !== said) this.log.warn('group held on its last good generation', { group: this.name, generation: this.generation?.n ?? null, heldBy: d.by });
        return;
      }
      case 'current':
        this.round = null;
        this.held = '';
        return;
      case 'publish':
        this.round = null;
        this.held = '';
        this.publishing = true;
        void this.publish(d.commits).catch((err: unknown) => {
          // A bug, not a failed publish: said loudly, and the daemon keeps serving the shown generation.
          this.lastError = { message: redact(err instanceof Error ? err.message : String(err)), at: new Date().toISOString() };
          this.log.error('group publish broke', { group: this.name, error: this.lastError.message });
        }).finally(() => {
          this.publishing = false;
          this.evaluate();
        });
        return;
      default: {
        const _never: never = d;
        return _never;
      }
    }
  }

  private async publish(commits: MemberCommits): Promise<void> {
    const members: GroupMember[] = [...this.members.values()].map((m) => ({ name: m.name, path: m.entry.path }));
    const n = Math.max(0, this.generation?.n ?? 0, ...this.onDisk.keys()) + 1;
    const started = Date.now();
    // Held before the links exist: no member removes a tree this set names while it is built.
    this.onDisk.set(n, commits);
    this.sendHolds();
    try {
      const dir = await this.folder.build(n, members, commits);
      const veto = await this.prePublish(dir, n, commits);
      if (veto !== null) {
        this.vetoed = { key: setKey(commits), commits, message: veto, at: new Date().toISOString() };
        this.log.warn('group pre-publish hook vetoed the set; the previous generation stays', { group: this.name, generation: this.generation?.n ?? null, commits, error: veto });
        await this.dropGeneration(n);
        return;
      }
      await this.folder.publish(n);
    } catch (err) {
      if (!(err instanceof SyncError) && typeof (err as NodeJS.ErrnoException).code !== 'string') throw err;
      const message = redact((err as Error).message);
      this.lastError = { message, at: new Date().toISOString() };
      this.failures += 1;
      const retryInMs = backoffDelay(this.failures, 1_000, RETRY_CAP_MS);
      this.log.warn('group publish failed; the previous generation stays', { group: this.name, error: message, retryInMs });
      await this.dropGeneration(n).catch(() => undefined);
      this.retry = setTimeout(() => {
        this.retry = null;
        this.trigger('retry after a failed publish');
      }, retryInMs);
      this.retry.unref();
      return;
    }
    const previous = this.generation;
    this.generation = { n, commits, at: new Date().toISOString() };
    this.vetoed = null;
    this.lastError = null;
    this.failures = 0;
    this.log.info('group published', { group: this.name, generation: n, commits, previousGeneration: previous?.n ?? null, durationMs: Date.now() - started });
    if (previous !== null) this.retireLater(previous.n);
  }

  /** Every member's pre-publish hook, run in the candidate generation's folder; the first refusal is the veto. */
  private async prePublish(dir: string, n: number, commits: MemberCommits): Promise<string | null> {
    const hooks = [...this.members.values()].flatMap((m) => (m.entry.group?.prePublish === undefined ? [] : [{ member: m.name, hook: m.entry.group.prePublish }]));
    if (hooks.length === 0) return null;
    // Loaded only by a daemon with a group hook: execa stays out of every other supervisor.
    const { runCommand } = await import('../repo-agent/hooks.js');
    const env = {
      GIT_AUTOSYNC_GROUP: this.name,
      GIT_AUTOSYNC_GENERATION: String(n),
      GIT_AUTOSYNC_PATH: this.path,
      /** "name=sha" per member, space-separated (names never hold a space or "="). */
      GIT_AUTOSYNC_COMMITS: setKey(commits),
    };
    for (const { member, hook } of hooks) {
      const outcome = await runCommand(hook.command, hook.timeoutMs, dir, env, this.log, 'pre-publish');
      if (!outcome.ok) return `pre-publish hook of "${member}" ${outcome.message}`;
    }
    return null;
  }

  /** Readers that resolved the old link are done after the members' longest staleAfter. */
  private retireLater(n: number): void {
    if (this.closed || this.retiring.has(n)) return;
    const staleAfterMs = Math.max(0, ...[...this.members.values()].map((m) => m.entry.staleAfterMs));
    const timer = setTimeout(() => {
      this.retiring.delete(n);
      void this.dropGeneration(n).catch((err: unknown) => this.log.warn('could not remove a replaced generation', { group: this.name, generation: n, error: (err as Error).message }));
    }, staleAfterMs);
    timer.unref();
    this.retiring.set(n, timer);
  }

  private async dropGeneration(n: number): Promise<void> {
    await this.folder.remove(n);
    this.onDisk.delete(n);
    this.sendHolds();
  }

  /** At start: the generation the link shows is the group's; the others go after staleAfter. */
  private async adopt(): Promise<void> {
    const members = [...this.members.values()].map((m) => ({ name: m.name, path: m.entry.path }));
    const current = await this.folder.current();
    for (const [n, commits] of await this.folder.generations(members)) {
      this.onDisk.set(n, commits);
      if (n === current) this.generation = { n, commits, at: new Date().toISOString() };
      else this.retireLater(n);
    }
    if (this.generation !== null) this.log.info('group adopted its generation', { group: this.name, generation: this.generation.n, commits: this.generation.commits });
    this.sendHolds();
  }

  private heldCommits(member: string): string[] {
    return [...new Set([...this.onDisk.values()].flatMap((c) => (c[member] === undefined ? [] : [c[member]])))];
  }

  private sendHolds(): void {
    for (const name of this.members.keys()) this.agent(name)?.hold(this.heldCommits(name));
  }
}

/** Every group of the listing in force, by name. */
export class Groups {
  private readonly byName = new Map<string, Group>();
  /** Member name → its group. */
  private readonly memberOf = new Map<string, Group>();

  constructor(
    private readonly agent: (name: string) => MemberAgent | undefined,
    private readonly log: Log,
    private readonly syncRoot: string | undefined,
  ) {}

  /** The listing's entries now; resolves once new groups have read their generation from disk. */
  async apply(entries: readonly ResolvedEntry[]): Promise<void> {
    const wanted = new Map<string, ResolvedEntry[]>();
    for (const e of entries) if (e.group !== null) wanted.set(e.group.name, [...(wanted.get(e.group.name) ?? []), e]);
    for (const [name, g] of [...this.byName]) {
      const members = wanted.get(name);
      if (members === undefined || dirname(members[0]!.path) !== g.path) {
        g.close();
        this.byName.delete(name);
      }
    }
    const adopting: Promise<void>[] = [];
    for (const [name, members] of wanted) {
      const g = this.byName.get(name);
      if (g !== undefined) g.setMembers(members);
      else {
        const created = new Group(name, dirname(members[0]!.path), members, this.agent, this.log, this.syncRoot);
        this.byName.set(name, created);
        adopting.push(created.adopted);
      }
    }
    this.memberOf.clear();
    for (const g of this.byName.values()) for (const m of g.memberNames) this.memberOf.set(m, g);
    await Promise.all(adopting);
  }

  onMessage(agent: MemberAgent, msg: AgentMessage): void {
    this.memberOf.get(agent.name)?.onMessage(agent, msg);
  }

  /** A member's agent is no longer running (restarting, crash-looping, gave up). */
  onAgentDown(member: string, why: string): void {
    this.memberOf.get(member)?.onAgentDown(member, why);
  }

  /** A trigger for `agent`: its group's, when it is a member. */
  syncNow<A extends MemberAgent>(agent: A, reason: string): void {
    const g = this.memberOf.get(agent.name);
    if (g === undefined) agent.syncNow(reason);
    else g.trigger(`${reason} for "${agent.name}"`);
  }

  statuses(): GroupStatus[] {
    return [...this.byName.values()].map((g) => g.status());
  }

  get(name: string): GroupStatus | undefined {
    return this.byName.get(name)?.status();
  }

  /** The status of the group `member` belongs to. */
  groupOf(member: string): GroupStatus | undefined {
    return this.memberOf.get(member)?.status();
  }

  close(): void {
    for (const g of this.byName.values()) g.close();
  }
}
