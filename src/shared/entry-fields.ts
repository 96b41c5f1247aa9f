// The rules of each listing field, written once and free of zod: the listing schema
// (listing-schema.ts, supervisor side) and the agent's check of the entry it is sent
// (protocol.ts) both apply them, so the two cannot drift apart again (#15: sparse "." and a
// single quote in key paths were refused by one and let through by the other).

import { isAbsolute, normalize } from 'node:path';
import { MAX_TIMER_MS } from './timer-limit.js';

// C0 and C1 control characters (C1 includes U+0085, a line break to some readers).
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const NAME_RULE = 'name must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit';

export const PUBLISH_MODES = ['symlink', 'exchange', 'in-place'] as const;
export type PublishMode = (typeof PUBLISH_MODES)[number];
export const SUBMODULE_MODES = ['recursive', 'shallow', 'off'] as const;
export const GC_MODES = ['auto', 'always', 'aggressive', 'off'] as const;
export const FILE_MODES = ['default', 'group-write'] as const;
export const WEBHOOK_METHODS = ['POST', 'PUT'] as const;

export const FILTER_PATTERN = /^(blob:none|tree:0|blob:limit=\d+[kmg]?)$/;
export const FILTER_RULE = 'filter must be blob:none, tree:0 or blob:limit=<n>[k|m|g]';

/** Inclusive bounds of each number field, in the listing's own units (ms for timers). */
export const BOUNDS = {
  interval: [100, MAX_TIMER_MS],
  timeout: [1000, MAX_TIMER_MS],
  staleAfter: [0, MAX_TIMER_MS],
  maxStaleness: [1000, MAX_TIMER_MS],
  depth: [0, Number.MAX_SAFE_INTEGER],
  keep: [0, 100],
  hookTimeoutMs: [100, 3_600_000],
  webhookTimeoutMs: [100, 600_000],
  hookArgs: [1, 64],
  sparse: [1, 256],
  gitConfig: [0, 32],
  sshKeys: [1, 16],
  credentials: [0, 32],
} as const satisfies Record<string, readonly [number, number]>;

export const inBounds = (v: unknown, [min, max]: readonly [number, number]): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** Why `p` is not a safe absolute file path for the field `what`, or null. */
export function absolutePathProblem(what: string, p: string): string | null {
  if (p.length === 0) return `${what} must not be empty`;
  if (CONTROL.test(p)) return `${what} must not contain control characters`;
  if (!isAbsolute(p)) return `${what} must be an absolute path`;
  if (normalize(p) !== p || (p !== '/' && p.endsWith('/'))) return `${what} must be normalised (no "..", "." or "//" segments and no trailing "/")`;
  // A single quote would break the quoting of GIT_SSH_COMMAND, where key paths end up.
  if (p.includes("'")) return `${what} must not contain a single quote`;
  // Refused here rather than by the file system later, with the field named.
  if (p.length > 3000 || !p.split('/').every((s) => Buffer.byteLength(s) <= 255)) return `${what} is too long (at most 3000 characters, 255 bytes per segment)`;
  return null;
}

/** Cone-mode sparse directories: relative, normalised, no option-looking or hidden tricks. */
export function sparseDirProblem(d: string): string | null {
  if (d.length === 0 || d.startsWith('/') || d.startsWith('-') || CONTROL.test(d) || d.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    return 'sparse directories must be relative paths without ".", ".." or empty segments, not starting with "-"';
  }
  return null;
}

/** Why an http(s) URL the daemon itself calls (GitHub API, askpass) is refused, or null: never userinfo. */
export function serviceUrlProblem(what: string, u: string): string | null {
  if (u.length > 2000 || !/^https?:\/\/[^\s/?#]+(\/[^\s]*)?$/i.test(u) || CONTROL.test(u)) return `${what} must be an http(s) URL`;
  if (/^https?:\/\/[^/]*@/i.test(u)) return `${what} must not contain a user name or password`;
  return null;
}

/** Why a webhook URL is refused, or null. */
export function webhookUrlProblem(u: string): string | null {
  if (!/^https?:\/\/[^\s]+$/i.test(u)) return 'webhook.url must be an http(s) URL';
  if (/^https?:\/\/[^/]*:[^/]*@/i.test(u)) return 'webhook.url must not contain a password';
  return null;
}

/** A hook's argument (run without a shell): never NUL, which would cut it short. */
export const isHookArg = (a: unknown): a is string => typeof a === 'string' && a.length > 0 && !a.includes('\u0000');

export const GITHUB_ID_PATTERN = /^[1-9][0-9]{0,19}$/;
export const GITHUB_CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;
