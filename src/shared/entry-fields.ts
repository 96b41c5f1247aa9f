// The rules of each listing field, written once and free of zod: the listing schema
// (listing-schema.ts, supervisor side) and the agent's check of the entry it is sent (the end of
// this file, used by protocol.ts) both apply them, so the two cannot drift apart again (#15:
// sparse "." and a single quote in key paths were refused by one and let through by the other).

import { isAbsolute, normalize } from 'node:path';
import { parseCredentialList } from './credential-scope.js';
import { STORES_DIR } from './layout.js';
// Types only: the agent narrows its entry with the checks at the end of this file and never loads zod.
import type { GithubAppRef, ResolvedEntry } from './listing-schema.js';
import { checkGitConfig, checkRefName, checkRemoteUrl, SSH_HOST_PATTERN, TRANSPORTS } from './ref-and-url.js';
import { MAX_TIMER_MS } from './timer-limit.js';
import { createRequire } from 'node:module';

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
/** What `verify` checks: the commit, the annotated tag the ref names, or both. */
export const VERIFY_MODES = ['head', 'tag', 'tag-and-head'] as const;
export const VERIFY_KEY_FIELDS = ['sshAllowedSignersFile', 'gpgKeysFile'] as const;

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

/** Why a `verify` block is refused, or null: without a key file nothing could ever be verified. */
export function verifyKeysProblem(v: Partial<Record<(typeof VERIFY_KEY_FIELDS)[number], unknown>>): string | null {
  return VERIFY_KEY_FIELDS.every((f) => v[f] === undefined) ? 'verify needs "sshAllowedSignersFile" or "gpgKeysFile" (or both)' : null;
}

/** `ref: "semver:<range>"`: the highest tag whose name is a version in the range (":" is never in a ref name). */
export const SEMVER_REF_PREFIX = 'semver:';

/** Why `ref` is refused, or null: a ref name git accepts, or a semver range after SEMVER_REF_PREFIX. */
export function refProblem(ref: string): string | null {
  if (!ref.startsWith(SEMVER_REF_PREFIX)) return checkRefName(ref);
  const range = ref.slice(SEMVER_REF_PREFIX.length);
  // Loaded only for a semver ref: semver's modules add 4-7 MB RSS (measured on node 20: 4.3 MB
  // on a quiet machine, 6.9-7.2 MB at load 26), which every agent would otherwise carry.
  const validRange = createRequire(import.meta.url)('semver/ranges/valid') as typeof import('semver/ranges/valid.js');
  if (range.trim() === '' || range.length > 200 || CONTROL.test(range) || validRange(range) === null) return `ref "${ref.slice(0, 210)}" must hold a semver range after "semver:", such as "semver:>=1.4 <2"`;
  return null;
}

/** A hook's argument (run without a shell): never NUL, which would cut it short. */
export const isHookArg = (a: unknown): a is string => typeof a === 'string' && a.length > 0 && !a.includes('\u0000');

export const GITHUB_ID_PATTERN = /^[1-9][0-9]{0,19}$/;
export const GITHUB_CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

// ---- The resolved entry, as the agent receives it -----------------------------------------------
// Beside the rules they apply, so that a new field's rule and its check on arrival are one edit.

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isStr = (v: unknown): v is string => typeof v === 'string';

/** A store beside the entry's own folder (see supervisor/stores.ts), with a URL git may use. */
function isStore(v: unknown, path: unknown): boolean {
  if (!isObject(v) || !isStr(v.dir) || !isStr(v.url) || !isStr(path)) return false;
  const parent = path.slice(0, path.lastIndexOf('/')) || '/';
  const rest = v.dir.startsWith(parent) ? v.dir.slice(parent.length).replace(/^\//, '') : null;
  return rest !== null && rest.startsWith(`${STORES_DIR}/`) && /^[A-Za-z0-9._-]+\.git$/.test(rest.slice(STORES_DIR.length + 1)) && !rest.includes('..') && !('reason' in checkRemoteUrl(v.url));
}

/** The listing's scoped credentials, checked again as the schema did, with scopes already normalised. */
function isScopedList(v: unknown): boolean {
  const parsed = parseCredentialList(v, 'credentials');
  return 'list' in parsed && parsed.list.every((c, i) => c.url === (v as Array<{ url: unknown }>)[i]!.url);
}

const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const oneOf = (values: readonly string[]) => (v: unknown) => isStr(v) && values.includes(v);
const optional = (check: (v: unknown) => boolean) => (v: unknown) => v === undefined || check(v);
const nullable = (check: (v: unknown) => boolean) => (v: unknown) => v === null || check(v);
const isPath = (v: unknown): v is string => isStr(v) && absolutePathProblem('path', v) === null;
const ms = (bounds: readonly [number, number]) => (v: unknown) => inBounds(v, bounds);
const listOf = (bounds: readonly [number, number], item: (v: unknown) => boolean) => (v: unknown) => Array.isArray(v) && v.length >= bounds[0] && v.length <= bounds[1] && v.every(item);

/** Each field's check; the keys are exactly the type's, so a field cannot be left unchecked and an unknown one is refused. */
type Checks<T> = { readonly [K in keyof T]-?: (v: unknown, all: Record<string, unknown>) => boolean };

/** An object with only `checks`' keys, each passing its check. */
function matches<T>(v: unknown, checks: Checks<T>): boolean {
  if (!isObject(v) || Array.isArray(v)) return false;
  const all = v;
  return Object.keys(v).every((k) => Object.hasOwn(checks, k)) && Object.entries(checks).every(([k, check]) => (check as Checks<T>[keyof T])(all[k], all));
}

const COMMAND_HOOK: Checks<{ command: string[]; timeoutMs: number }> = { command: listOf(BOUNDS.hookArgs, isHookArg), timeoutMs: ms(BOUNDS.hookTimeoutMs) };
const HOOKS: Checks<ResolvedEntry['hooks']> = {
  webhook: optional((w) => matches(w, { url: (u) => isStr(u) && webhookUrlProblem(u) === null, method: oneOf(WEBHOOK_METHODS), timeoutMs: ms(BOUNDS.webhookTimeoutMs) })),
  exec: optional((h) => matches(h, COMMAND_HOOK)),
  prePublish: optional((h) => matches(h, COMMAND_HOOK)),
  touchFile: optional(isPath),
};
const GITHUB_APP: Checks<GithubAppRef> = {
  issuer: (v) => isStr(v) && GITHUB_CLIENT_ID_PATTERN.test(v),
  issuerField: oneOf(['appId', 'clientId']),
  installationId: (v) => isStr(v) && GITHUB_ID_PATTERN.test(v),
  privateKeyFile: isPath,
  apiUrl: (v) => isStr(v) && serviceUrlProblem('apiUrl', v) === null && !v.endsWith('/'),
};
const CREDENTIALS: Checks<ResolvedEntry['credentials']> = {
  sshKeyFile: optional(isPath),
  knownHostsFile: optional(isPath),
  usernameFile: optional(isPath),
  passwordFile: optional(isPath),
  githubApp: optional((v) => matches(v, GITHUB_APP)),
  askpassUrl: optional((v) => isStr(v) && serviceUrlProblem('askpassUrl', v) === null),
  sshKeys: optional(listOf(BOUNDS.sshKeys, (k) => matches(k, { host: (h) => isStr(h) && SSH_HOST_PATTERN.test(h), keyFile: isPath }))),
  scoped: isScopedList,
};
const VERIFY: Checks<NonNullable<ResolvedEntry['verify']>> = {
  mode: oneOf(VERIFY_MODES),
  sshAllowedSignersFile: optional(isPath),
  gpgKeysFile: optional(isPath),
};
const GROUP: Checks<NonNullable<ResolvedEntry['group']>> = {
  name: (v) => isStr(v) && NAME_PATTERN.test(v),
  prePublish: optional((h) => matches(h, COMMAND_HOOK)),
};
const ENTRY: Checks<ResolvedEntry> = {
  name: (v) => isStr(v) && NAME_PATTERN.test(v),
  path: (v) => isPath(v) && v !== '/',
  // The URL is checked again here (the agent trusts nothing unchecked with git), and its transport with it.
  repo: (v, e) => {
    if (!isStr(v)) return false;
    const r = checkRemoteUrl(v);
    return !('reason' in r) && r.url === v && r.transport === e.transport;
  },
  transport: oneOf(TRANSPORTS),
  ref: nullable((v) => isStr(v) && refProblem(v) === null),
  intervalMs: ms(BOUNDS.interval),
  depth: (v) => inBounds(v, BOUNDS.depth),
  publish: oneOf(PUBLISH_MODES),
  timeoutMs: ms(BOUNDS.timeout),
  staleAfterMs: ms(BOUNDS.staleAfter),
  submodules: oneOf(SUBMODULE_MODES),
  sparse: nullable(listOf(BOUNDS.sparse, (d) => isStr(d) && sparseDirProblem(d) === null)),
  filter: nullable((v) => isStr(v) && FILTER_PATTERN.test(v)),
  keep: (v) => inBounds(v, BOUNDS.keep),
  gc: oneOf(GC_MODES),
  fileMode: oneOf(FILE_MODES),
  gitConfig: listOf(BOUNDS.gitConfig, (kv) => isStr(kv) && checkGitConfig(kv) === null),
  hooks: (v) => matches(v, HOOKS),
  required: isBool,
  maxStalenessMs: nullable(ms(BOUNDS.maxStaleness)),
  prune: optional(isBool),
  serve: isBool,
  syncRoot: optional(isPath),
  credentials: (v) => matches(v, CREDENTIALS),
  credentialsFile: optional(isPath),
  store: (v, e) => v === null || isStore(v, e.path),
  // A member publishes into the group's folder (layout.ts memberPath), in symlink mode only.
  group: (v, e) => v === null || (e.publish === 'symlink' && matches(v, GROUP)),
  verify: nullable((v) => matches(v, VERIFY) && verifyKeysProblem(v as Record<string, unknown>) === null),
};

/**
 * Narrow a resolved entry from the supervisor without the schema library (agents stay small),
 * applying entry-fields.ts's rules as the listing schema does; an unknown field is refused.
 */
export function parseResolvedEntry(raw: unknown): ResolvedEntry | null {
  return matches(raw, ENTRY) ? (raw as ResolvedEntry) : null;
}
