// One record per entry an agent runs: the agent, its status and its metrics' series, kept and
// removed together. Agent messages and state changes are folded in here, once.

import type { AgentMessage } from '../shared/protocol.js';
import type { Metrics } from './metrics.js';
import { applyAgentMessage, applyStateChange, initialStatus, type RepoStatus } from './status.js';
import type { StateChange, SupervisedAgent } from './supervision.js';

export interface Child {
  readonly agent: SupervisedAgent;
  status: RepoStatus;
}

export class Children {
  private readonly byName = new Map<string, Child>();

  constructor(private readonly metrics: Metrics) {}

  get size(): number {
    return this.byName.size;
  }

  get(name: string): Child | undefined {
    return this.byName.get(name);
  }

  values(): IterableIterator<Child> {
    return this.byName.values();
  }

  agents(): SupervisedAgent[] {
    return [...this.byName.values()].map((c) => c.agent);
  }

  statuses(): RepoStatus[] {
    return [...this.byName.values()].map((c) => c.status);
  }

  add(agent: SupervisedAgent): void {
    this.byName.set(agent.name, { agent, status: initialStatus(agent.desired.entry) });
    this.metrics.addRepo(agent.name);
  }

  /** The entry's record and series go (its agent has stopped). */
  remove(name: string): void {
    const child = this.byName.get(name);
    if (child === undefined) return;
    this.byName.delete(name);
    this.metrics.removeRepo(name, child.status);
  }

  /** The entry's status after `message`; undefined when `agent` no longer speaks for it. */
  onMessage(agent: SupervisedAgent, message: AgentMessage): RepoStatus | undefined {
    const child = this.current(agent);
    if (child === undefined) return undefined;
    const previous = child.status;
    child.status = applyAgentMessage(previous, message, Date.now());
    this.metrics.onAgentMessage(agent.name, message);
    this.metrics.onCommit(agent.name, previous.publishedCommit, child.status.publishedCommit);
    return child.status;
  }

  onStateChange(agent: SupervisedAgent, change: StateChange): void {
    const child = this.current(agent);
    if (child === undefined) return;
    child.status = applyStateChange(child.status, change, Date.now());
    this.metrics.onStateChange(agent.name, change);
  }

  /** Only the entry's current agent speaks for it: one removed or replaced meanwhile is ignored. */
  private current(agent: SupervisedAgent): Child | undefined {
    const child = this.byName.get(agent.name);
    return child?.agent === agent ? child : undefined;
  }
}
