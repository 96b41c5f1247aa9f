// Hooks around a publish: the pre-publish hook that can veto a commit, and the after-publish
// touch file, exec hook and webhook. Commands run through execa as argument arrays (no shell);
// execa is loaded only by agents that have a command hook, to keep the others small.

import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isInside } from '../shared/paths.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Log } from '../shared/log.js';
import type { AgentMessage, HookName } from '../shared/protocol.js';
import { displayUrl, redact } from '../shared/redact.js';

const OUTPUT_LIMIT = 4096;
const WEBHOOK_ATTEMPTS = 5;

export interface CommandOutcome {
  ok: boolean;
  /** One line: exit code, timeout or spawn error, and the tail of the output. */
  message: string;
  durationMs: number;
}

/** Run a hook command in `cwd` with the publish described in its environment. */
export async function runCommand(
  command: string[],
  timeoutMs: number,
  cwd: string,
  env: Record<string, string>,
  log: Log,
  hook: HookName,
): Promise<CommandOutcome> {
  const { execa } = await import('execa');
  const started = Date.now();
  const [file, ...args] = command as [string, ...string[]];
  const result = await execa(file, args, {
    cwd,
    env,
    extendEnv: true,
    timeout: timeoutMs,
    forceKillAfterDelay: 2_000,
    reject: false,
    all: true,
    stdin: 'ignore',
    maxBuffer: 1024 * 1024,
  });
  const durationMs = Date.now() - started;
  const output = redact(String(result.all ?? '')).slice(-OUTPUT_LIMIT);
  // The hook's output is the repo's: logged under its name, one line per hook run.
  if (output.trim() !== '') log.info('hook output', { hook, output });
  if (result.failed) {
    const why = result.timedOut
      ? `timed out after ${timeoutMs} ms`
      : result.exitCode !== undefined
        ? `exited with ${result.exitCode}`
        : `could not run: ${redact(result.shortMessage ?? 'unknown error')}`;
    const tail = output.trim().split('\n').slice(-1)[0] ?? '';
    return { ok: false, message: tail === '' ? why : `${why}: ${tail.slice(0, 300)}`, durationMs };
  }
  return { ok: true, message: 'exit 0', durationMs };
}

export function hookEnv(entry: ResolvedEntry, commit: string): Record<string, string> {
  return { GIT_AUTOSYNC_COMMIT: commit, GIT_AUTOSYNC_NAME: entry.name, GIT_AUTOSYNC_PATH: entry.path };
}

/**
 * After-publish work. Never blocks the next sync: each hook runs in the background, and a newer
 * publish supersedes an older one's pending webhook retries (only the latest state matters).
 */
export class AfterPublish {
  private execRunning: Promise<void> | null = null;
  private execPending: { commit: string; tree: string } | null = null;
  private webhookGeneration = 0;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly entry: ResolvedEntry,
    private readonly report: (m: AgentMessage) => void,
    private readonly log: Log,
  ) {}

  /** `tree` is the folder of that commit: hooks run there even if a newer commit is published meanwhile. */
  published(commit: string, tree: string): void {
    const h = this.entry.hooks;
    if (h.touchFile !== undefined) this.track(this.touch(h.touchFile, commit));
    if (h.exec !== undefined) this.queueExec({ commit, tree });
    if (h.webhook !== undefined) this.track(this.deliver(commit, ++this.webhookGeneration));
  }

  /** Resolves once every hook started so far has finished (one-time mode waits for this). */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0 || this.execRunning !== null) {
      await Promise.allSettled([...this.inFlight, this.execRunning]);
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async touch(file: string, commit: string): Promise<void> {
    const started = Date.now();
    try {
      await this.checkTouchTarget(file);
      const now = new Date();
      // O_NOFOLLOW: a symlink planted at the touch file's name is never followed.
      const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
      await handle.utimes(now, now).finally(() => handle.close());
      this.report({ type: 'hook', hook: 'touch', ok: true, commit, durationMs: Date.now() - started, message: 'touched' });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const message = `cannot touch ${file}: ${e.code === 'EOUTSIDE' ? e.message : (e.code ?? String(err))}`;
      this.log.warn('touch file failed', { file, error: message });
      this.report({ type: 'hook', hook: 'touch', ok: false, commit, durationMs: Date.now() - started, message });
    }
  }

  /** With SYNC_ROOT set, the touch file's folder must resolve inside it (symlinks included). */
  private async checkTouchTarget(file: string): Promise<void> {
    const root = this.entry.syncRoot;
    if (root === undefined) return;
    const [realRoot, realParent] = await Promise.all([realpath(root), realpath(dirname(file))]);
    if (realParent !== realRoot && !isInside(realRoot, realParent)) {
      throw Object.assign(new Error(`its folder resolves to ${realParent}, outside SYNC_ROOT`), { code: 'EOUTSIDE' });
    }
  }

  /** One exec hook at a time; publishes meanwhile collapse into one run for the latest commit. */
  private queueExec(run: { commit: string; tree: string }): void {
    if (this.execRunning !== null) {
      this.execPending = run;
      return;
    }
    this.execRunning = this.runExec(run.commit, run.tree).finally(() => {
      this.execRunning = null;
      const next = this.execPending;
      this.execPending = null;
      if (next !== null) this.queueExec(next);
    });
  }

  private async runExec(commit: string, tree: string): Promise<void> {
    const exec = this.entry.hooks.exec!;
    const outcome = await runCommand(exec.command, exec.timeoutMs, tree, hookEnv(this.entry, commit), this.log, 'exec').catch(
      (err: unknown) => ({ ok: false, message: redact(String(err)), durationMs: 0 }),
    );
    if (!outcome.ok) this.log.warn('exec hook failed; the published tree stays', { commit, error: outcome.message });
    this.report({ type: 'hook', hook: 'exec', commit, ...outcome });
  }

  private async deliver(commit: string, generation: number): Promise<void> {
    const hook = this.entry.hooks.webhook!;
    const body = JSON.stringify({ name: this.entry.name, repo: displayUrl(this.entry.repo), ref: this.entry.ref, commit, path: this.entry.path });
    for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
      if (generation !== this.webhookGeneration) return; // a newer publish took over
      const started = Date.now();
      let message: string;
      try {
        const res = await fetch(hook.url, {
          method: hook.method,
          headers: { 'content-type': 'application/json', 'user-agent': 'git-autosync' },
          body,
          signal: AbortSignal.timeout(hook.timeoutMs),
          redirect: 'error',
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.report({ type: 'hook', hook: 'webhook', ok: true, commit, durationMs: Date.now() - started, message: `HTTP ${res.status}` });
          return;
        }
        message = `HTTP ${res.status}`;
      } catch (err) {
        message = (err as Error).name === 'TimeoutError' ? `no answer within ${hook.timeoutMs} ms` : redact((err as Error).message);
      }
      const last = attempt === WEBHOOK_ATTEMPTS;
      this.log.warn('webhook delivery failed', { url: displayUrl(hook.url), attempt, error: message, retrying: !last });
      if (last) {
        this.report({ type: 'hook', hook: 'webhook', ok: false, commit, durationMs: Date.now() - started, message: `${message} after ${attempt} attempts` });
        return;
      }
      await new Promise((r) => setTimeout(r, 1000 * 2 ** (attempt - 1)));
    }
  }
}
