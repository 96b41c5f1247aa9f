// "Sync now" from outside: push webhooks and the authenticated /sync/{name} endpoint. Secrets
// are read from their files on each request (rotation needs no restart); an endpoint whose
// secret is not configured does not exist (404). Agents coalesce triggers, so a flood of
// requests never means a flood of fetches.

import type { Log } from '../shared/log.js';
import { redact } from '../shared/redact.js';
import type { Metrics } from './metrics.js';
import { readSecret, tokenMatches } from './secrets.js';
import type { SupervisedAgent } from './supervision.js';
import { parsePush, pushMatches, verifySignature, type Provider } from './webhooks.js';

export interface TriggerResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface TriggerConfig {
  webhookSecretFile: string | undefined;
  syncTokenFile: string | undefined;
}

/** What a trigger needs of an agent: which entry it runs, and a way to make it sync now. */
export type Triggerable = Pick<SupervisedAgent, 'name' | 'desired' | 'syncNow'>;

export class Triggers {
  constructor(
    private readonly config: TriggerConfig,
    private readonly agents: () => Iterable<Triggerable>,
    private readonly metrics: Metrics,
    private readonly log: Log,
  ) {}

  async webhook(provider: Provider, headers: Record<string, string | string[] | undefined>, body: Buffer): Promise<TriggerResponse> {
    const secret = await readSecret(this.config.webhookSecretFile);
    if (secret === null) return this.answer(provider, 'disabled', 404, { error: 'not found' });
    if (!verifySignature(provider, secret, headers, body)) {
      this.log.warn('webhook refused: bad signature or token', { provider });
      return this.answer(provider, 'unauthorized', 401, { error: 'bad signature' });
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return this.answer(provider, 'invalid', 400, { error: 'body is not JSON' });
    }
    const event = parsePush(provider, headers, payload);
    if (event.kind !== 'push') return this.answer(provider, 'ignored', 202, { status: 'ignored', event: event.event });
    const matched = [...this.agents()].filter((a) => pushMatches(a.desired.entry, event));
    for (const agent of matched) agent.syncNow(`${provider} push`);
    this.log.info('webhook push', { provider, ref: event.ref, repos: matched.map((a) => a.name) });
    return this.answer(provider, matched.length > 0 ? 'accepted' : 'ignored', 202, {
      status: matched.length > 0 ? 'syncing' : 'no matching entry',
      repos: matched.map((a) => a.name),
    });
  }

  async syncByName(name: string, authorization: string | undefined): Promise<TriggerResponse> {
    const token = await readSecret(this.config.syncTokenFile);
    if (token === null) return this.answer('sync', 'disabled', 404, { error: 'not found' });
    if (!tokenMatches(authorization, token, false)) {
      this.log.warn('sync request refused: bad token', { repo: redact(name) });
      return this.answer('sync', 'unauthorized', 401, { error: 'bad token' });
    }
    const agent = [...this.agents()].find((x) => x.name === name);
    if (agent === undefined) return this.answer('sync', 'ignored', 404, { error: `no entry named "${name}"` });
    agent.syncNow('sync request');
    return this.answer('sync', 'accepted', 202, { status: 'syncing', repos: [name] });
  }

  private answer(endpoint: string, result: string, status: number, body: Record<string, unknown>): TriggerResponse {
    this.metrics.triggers.inc({ endpoint, result });
    return { status, body };
  }
}
