// The listing entry: its schema (the one source of truth for the validator, the shipped JSON
// Schema and the docs) and the resolved form an agent works from.

import { basename } from 'node:path';
import { isInside } from './paths.js';
import { LISTING_DOC, type ListingDocRow, type ListingField } from './listing-fields.js';
import { MAX_TIMER_MS, TIMER_LIMIT_REASON } from './timer-limit.js';
import {
  absolutePathProblem,
  BOUNDS,
  CONTROL,
  FILE_MODES,
  FILTER_PATTERN,
  FILTER_RULE,
  GC_MODES,
  GITHUB_CLIENT_ID_PATTERN,
  GITHUB_ID_PATTERN,
  isHookArg,
  NAME_PATTERN,
  NAME_RULE,
  PUBLISH_MODES,
  refProblem,
  serviceUrlProblem,
  sparseDirProblem,
  SUBMODULE_MODES,
  VERIFY_MODES,
  verifyKeysProblem,
  webhookUrlProblem,
  WEBHOOK_METHODS,
} from './entry-fields.js';
import { z } from 'zod';
import { credentialScope, type ScopedCredential } from './credential-scope.js';
import { isObjectId } from './object-id.js';
import { checkGitConfig, checkRefName, checkRemoteUrl, SSH_HOST_PATTERN } from './ref-and-url.js';

export { NAME_PATTERN };

/** A string field checked by one of entry-fields.ts's rules (a reason, or null when it holds). */
const ruled = (problem: (v: string) => string | null, minLength = 0) =>
  (minLength > 0 ? z.string().min(minLength) : z.string()).superRefine((v, ctx) => {
    const reason = problem(v);
    if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
  });

const absolutePath = (what: string) => ruled((p) => absolutePathProblem(what, p), 1);

const refString = z.string().superRefine((ref, ctx) => {
  const reason = checkRefName(ref);
  if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
});

const millis = ([min, max]: readonly [number, number]) =>
  z.number().int().min(min).max(max, max === MAX_TIMER_MS ? TIMER_LIMIT_REASON : `must be at most ${max} ms`);
const count = ([min, max]: readonly [number, number]) => z.number().int().min(min).max(max);

// An http(s) URL the daemon itself calls (GitHub API, askpass endpoint): never userinfo, which
// would put a secret in the listing.
const serviceUrl = (what: string) => z.string().max(2000).superRefine((u, ctx) => {
  const reason = serviceUrlProblem(what, u);
  if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
});


const sparseDir = ruled(sparseDirProblem, 1);

// A hook is an argument array, run without a shell: nothing in it is ever interpolated.
const hookCommand = z
  .array(z.string().min(1).refine(isHookArg, { message: 'command arguments must not contain NUL' }))
  .min(BOUNDS.hookArgs[0])
  .max(BOUNDS.hookArgs[1])
  .describe('Argument array: the program, then its arguments. No shell.');

const commandHook = (what: string) =>
  z
    .strictObject({
      command: hookCommand,
      timeoutMs: millis(BOUNDS.hookTimeoutMs).optional().describe(`Kill the ${what} after this many ms. Default 60000.`),
    })
    .optional();

/**
 * Every field the README documents (listing-fields.ts) and no other: the compiler checks both
 * ways. Each field's description is its README row's, written once there.
 */
function documented<S extends Record<ListingField, z.ZodType>>(shape: S & Record<Exclude<keyof S, ListingField>, never>): S {
  const meaning = new Map<string, string>((LISTING_DOC as readonly ListingDocRow[]).flatMap((r) => r.fields.map((f) => [f, r.meaning] as const)));
  return Object.fromEntries(Object.entries(shape).map(([field, schema]) => [field, (schema as z.ZodType).describe(meaning.get(field)!)])) as S;
}

const entryShape = documented({
    path: absolutePath('path').refine((p) => p !== '/', { message: 'path must not be "/"' }),
    // Checked once: the parsed remote (transport, the URL git is given) is what the rest uses.
    repo: z
      .string()
      .transform((url, ctx) => {
        const result = checkRemoteUrl(url);
        if ('reason' in result) {
          ctx.addIssue({ code: 'custom', message: result.reason });
          return z.NEVER;
        }
        return result;
      }),
    branch: refString.optional(),
    ref: ruled(refProblem).optional(),
    name: z
      .string()
      .regex(NAME_PATTERN, NAME_RULE)
      .optional(),
    interval: millis(BOUNDS.interval).optional(),
    depth: count(BOUNDS.depth).optional(),
    publish: z.enum(PUBLISH_MODES).optional(),
    timeout: millis(BOUNDS.timeout).optional(),
    staleAfter: millis(BOUNDS.staleAfter)
      .optional(),
    required: z.boolean().optional(),
    maxStaleness: millis(BOUNDS.maxStaleness)
      .optional(),
    submodules: z.enum(SUBMODULE_MODES).optional(),
    sparse: z.array(sparseDir).min(BOUNDS.sparse[0]).max(BOUNDS.sparse[1]).optional(),
    filter: z
      .string()
      .regex(FILTER_PATTERN, FILTER_RULE)
      .optional(),
    keep: count(BOUNDS.keep).optional(),
    gc: z.enum(GC_MODES).optional(),
    fileMode: z.enum(FILE_MODES).optional(),
    gitConfig: z
      .array(
        z.string().superRefine((kv, ctx) => {
          const reason = checkGitConfig(kv);
          if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
        }),
      )
      .max(BOUNDS.gitConfig[1])
      .optional(),
    webhook: z
      .strictObject({
        url: ruled(webhookUrlProblem),
        method: z.enum(WEBHOOK_METHODS).optional(),
        timeoutMs: millis(BOUNDS.webhookTimeoutMs).optional(),
      })
      .optional(),
    execHook: commandHook('exec hook'),
    prePublishHook: commandHook('pre-publish hook'),
    verify: z
      .strictObject({
        mode: z.enum(VERIFY_MODES).optional(),
        sshAllowedSignersFile: absolutePath('verify.sshAllowedSignersFile').optional(),
        gpgKeysFile: absolutePath('verify.gpgKeysFile').optional(),
      })
      .superRefine((v, ctx) => {
        const reason = verifyKeysProblem(v);
        if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
      })
      .optional(),
    group: z.string().regex(NAME_PATTERN, 'group must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit').optional(),
    touchFile: absolutePath('touchFile').optional(),
    prune: z.boolean().optional(),
    serve: z.boolean().optional(),
    sshKeyFile: absolutePath('sshKeyFile').optional(),
    knownHostsFile: absolutePath('knownHostsFile').optional(),
    usernameFile: absolutePath('usernameFile').optional(),
    passwordFile: absolutePath('passwordFile').optional(),
    githubApp: z
      .strictObject({
        appId: z.union([z.number().int().positive(), z.string().regex(GITHUB_ID_PATTERN, 'githubApp.appId must be a number')]).optional(),
        clientId: z.string().regex(GITHUB_CLIENT_ID_PATTERN, 'githubApp.clientId must be letters, digits, ".", "_" or "-"').optional(),
        installationId: z.union([z.number().int().positive(), z.string().regex(GITHUB_ID_PATTERN, 'githubApp.installationId must be a number')]),
        privateKeyFile: absolutePath('githubApp.privateKeyFile'),
        apiUrl: serviceUrl('githubApp.apiUrl').optional(),
      })
      .optional(),
    askpassUrl: serviceUrl('askpassUrl')
      .optional(),
    sshKeys: z
      .array(
        z.strictObject({
          host: z.string().regex(SSH_HOST_PATTERN, 'sshKeys host must be a host name or pattern (letters, digits, ".", "-", "*", "?")'),
          keyFile: absolutePath('sshKeys keyFile'),
        }),
      )
      .min(BOUNDS.sshKeys[0])
      .max(BOUNDS.sshKeys[1])
      .optional(),
    credentials: z
      .array(
        z.strictObject({
          url: z
            .string()
            .superRefine((url, ctx) => {
              const s = credentialScope(url);
              if ('reason' in s) ctx.addIssue({ code: 'custom', message: s.reason });
            })
            .describe('Scope: scheme, host, port and an optional path prefix, e.g. "https://git.example.com/team/".'),
          usernameFile: absolutePath('usernameFile'),
          passwordFile: absolutePath('passwordFile'),
        }),
      )
      .max(BOUNDS.credentials[1])
      .optional(),
});

export const listingEntrySchema = z
  .strictObject(entryShape)
  .superRefine((entry, ctx) => {
    if (entry.branch !== undefined && entry.ref !== undefined && entry.branch !== entry.ref) {
      ctx.addIssue({ code: 'custom', path: ['ref'], message: 'give either "branch" or "ref", not both' });
    }
    if (entry.sparse !== undefined && entry.publish === 'in-place') {
      ctx.addIssue({ code: 'custom', path: ['sparse'], message: 'needs "publish": "symlink" or "exchange"' });
    }
    if (entry.prePublishHook !== undefined && entry.publish === 'in-place') {
      ctx.addIssue({ code: 'custom', path: ['prePublishHook'], message: 'needs "publish": "symlink" or "exchange" (in place there is no tree to check before readers see it)' });
    }
    if (entry.group !== undefined && entry.publish !== undefined && entry.publish !== 'symlink') {
      // A member's tree is linked into the group's generations; the atomic swap is the group's link.
      ctx.addIssue({ code: 'custom', path: ['group'], message: `needs "publish": "symlink" (the group's folder is the one atomic link), not "${entry.publish}"` });
    }
    if ((entry.usernameFile === undefined) !== (entry.passwordFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [entry.usernameFile === undefined ? 'usernameFile' : 'passwordFile'],
        message: '"usernameFile" and "passwordFile" go together',
      });
    }
    const sources = [entry.passwordFile !== undefined && 'usernameFile', entry.githubApp !== undefined && 'githubApp', entry.askpassUrl !== undefined && 'askpassUrl'].filter((f) => f !== false);
    if (sources.length > 1) {
      ctx.addIssue({ code: 'custom', path: [sources[1]!], message: `give one source of http credentials, not ${sources.map((f) => `"${f}"`).join(' and ')}` });
    }
    if (entry.githubApp !== undefined && (entry.githubApp.appId === undefined) === (entry.githubApp.clientId === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['githubApp', 'appId'], message: 'give either "appId" or "clientId" (the JWT issuer)' });
    }
    if (entry.sshKeys !== undefined && entry.sshKeyFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['sshKeys'], message: 'give either "sshKeyFile" or "sshKeys" (a {host, keyFile} for the repo host too)' });
    }
    const remote = entry.repo;
    {
      if (entry.sshKeys !== undefined && remote.transport !== 'ssh') {
        ctx.addIssue({ code: 'custom', path: ['sshKeys'], message: `ssh credentials need an ssh remote, but "repo" uses ${remote.transport}` });
      }
      for (const f of ['githubApp', 'askpassUrl'] as const) {
        if (entry[f] !== undefined && remote.transport !== 'https' && remote.transport !== 'http') {
          ctx.addIssue({ code: 'custom', path: [f], message: `http credentials need an http(s) remote, but "repo" uses ${remote.transport}` });
        }
      }
      if ((entry.sshKeyFile ?? entry.knownHostsFile) !== undefined && remote.transport !== 'ssh') {
        ctx.addIssue({ code: 'custom', path: ['sshKeyFile'], message: `ssh credentials need an ssh remote, but "repo" uses ${remote.transport}` });
      }
      if (entry.passwordFile !== undefined && remote.transport !== 'https' && remote.transport !== 'http') {
        ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: `http credentials need an http(s) remote, but "repo" uses ${remote.transport}` });
      }
    }
  });

export type ListingEntry = z.infer<typeof listingEntrySchema>;

/** Process-wide defaults that entries may override. */
export interface AgentDefaults {
  intervalMs: number;
  timeoutMs: number;
  staleAfterMs: number;
  depth: number;
  /** When set, every path must lie inside it. */
  syncRoot?: string | undefined;
  /** CREDENTIALS_FILE: daemon-wide scoped credentials, read by the agents on every attempt. */
  credentialsFile?: string | undefined;
}

export const DEFAULTS: AgentDefaults = {
  intervalMs: 60_000,
  timeoutMs: 120_000,
  staleAfterMs: 10_000,
  depth: 1,
};

/**
 * What an agent works from: every default applied, every value checked. Its type is what
 * resolveFields() returns, so a new field is written once, where it is resolved.
 */
export type ResolvedEntry = ReturnType<typeof resolveFields>;

/** A GitHub App installation whose tokens the supervisor mints (see supervisor/github-app.ts). */
export type GithubAppRef = NonNullable<ResolvedEntry['credentials']['githubApp']>;

export const GITHUB_API_DEFAULT = 'https://api.github.com';

export interface SharedStore {
  /** The bare repository, in a hidden folder beside the entries' paths. */
  dir: string;
  /** The remote's URL as the store records it (the group's first entry's spelling). */
  url: string;
}

export class EntryError extends Error {
  override readonly name = 'EntryError';
  constructor(
    readonly index: number,
    readonly entryName: string | undefined,
    readonly field: string | undefined,
    readonly reason: string,
  ) {
    // Entries are named 1-based, "entry #N", everywhere a person reads them; `index` stays 0-based.
    const who = entryName === undefined ? `listing entry #${index + 1}` : `listing entry #${index + 1} ("${entryName}")`;
    // Listing values can end up in a message (a key, an echoed value): escape control
    // characters so a message is always one line and cannot forge another log line.
    super(escapeControls(field === undefined ? `${who}: ${reason}` : `${who}: "${field}" ${stripFieldPrefix(field, reason)}`));
  }
}

function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function stripFieldPrefix(field: string, reason: string): string {
  return reason.startsWith(`${field} `) ? reason.slice(field.length + 1) : reason;
}


/**
 * Validate one raw listing entry and apply defaults. Returns every problem found, each naming
 * the entry and the field, so one bad entry can be reported without touching the others.
 */
export function resolveEntry(raw: unknown, index: number, defaults: AgentDefaults): { entry: ResolvedEntry } | { errors: EntryError[] } {
  const guessName = guessEntryName(raw);
  const parsed = listingEntrySchema.safeParse(raw);
  if (!parsed.success) {
    return {
      errors: parsed.error.issues.map((issue) => {
        if (issue.code === 'unrecognized_keys') {
          // JSON-quoted: a key with a newline in it cannot forge a second log line.
          // Named from the entry down ("verify.sshAllowedSignersFil"): inside an object, the key alone does not say where.
          const parent = issue.path.map((p) => `${String(p)}.`).join('');
          return new EntryError(index, guessName, undefined, `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(`${parent}${k.slice(0, 100)}`)).join(', ')} (check the spelling)`);
        }
        if (issue.path.length === 0 && issue.code === 'invalid_type') {
          return new EntryError(index, guessName, undefined, 'must be an object like {"path": …, "repo": …, "branch": …}');
        }
        const field = issue.path.length > 0 ? issue.path.map(String).join('.') : undefined;
        // zod 4 leaves `input` out of issues: look the value up in the raw entry (#12 item 13).
        const given = valueAt(raw, issue.path);
        const reason =
          issue.code !== 'invalid_type' ? issue.message : given === undefined ? 'is required' : `must be ${article(issue.expected)} ${issue.expected} (got ${kindOf(given)})`;
        return new EntryError(index, guessName, field, reason);
      }),
    };
  }
  const e = parsed.data;
  const name = e.name ?? basename(e.path);
  const errors: EntryError[] = [];
  if (e.name === undefined && !NAME_PATTERN.test(name)) {
    errors.push(new EntryError(index, undefined, 'name', `cannot be derived from path "${e.path}"; set "name" (1-63 letters, digits, ".", "_" or "-")`));
  }
  if (defaults.syncRoot !== undefined && !isInside(defaults.syncRoot, e.path)) {
    errors.push(new EntryError(index, name, 'path', `must be inside SYNC_ROOT (${defaults.syncRoot})`));
  }
  if (defaults.syncRoot !== undefined && e.touchFile !== undefined && !isInside(defaults.syncRoot, e.touchFile)) {
    errors.push(new EntryError(index, name, 'touchFile', `must be inside SYNC_ROOT (${defaults.syncRoot})`));
  }
  if (errors.length > 0) return { errors };
  return { entry: resolveFields(e, name, defaults) };
}

/** The listing entry `e`, valid as a whole, with every default applied. */
function resolveFields(e: ListingEntry, name: string, defaults: AgentDefaults) {
  const remote = e.repo;
  return {
    name,
    path: e.path,
    repo: remote.url,
    transport: remote.transport,
    /** What the user asked for: a branch, tag, full ref, sha, or null for the remote HEAD. */
    ref: e.ref ?? (e.branch === undefined ? null : branchRef(e.branch)),
    intervalMs: e.interval ?? defaults.intervalMs,
    depth: e.depth ?? defaults.depth,
    publish: e.publish ?? 'symlink',
    timeoutMs: e.timeout ?? defaults.timeoutMs,
    staleAfterMs: e.staleAfter ?? defaults.staleAfterMs,
    submodules: e.submodules ?? 'recursive',
    sparse: e.sparse ?? null,
    filter: e.filter ?? null,
    keep: e.keep ?? 0,
    gc: e.gc ?? 'auto',
    fileMode: e.fileMode ?? 'default',
    /** Allowlisted "key=value" settings passed to every git command of this entry. */
    gitConfig: e.gitConfig ?? [],
    hooks: {
      webhook: e.webhook && { url: e.webhook.url, method: e.webhook.method ?? 'POST', timeoutMs: e.webhook.timeoutMs ?? 10_000 },
      exec: e.execHook && { command: e.execHook.command, timeoutMs: e.execHook.timeoutMs ?? 60_000 },
      // A group member's pre-publish hook is the group's: it runs on the whole candidate set (supervisor/groups.ts).
      prePublish: e.group === undefined ? prePublishOf(e) : undefined,
      touchFile: e.touchFile,
    },
    /** Holds the daemon's readiness back until published (and fresh, with maxStalenessMs). */
    required: e.required ?? true,
    maxStalenessMs: e.maxStaleness ?? null,
    /** undefined: follow the process-wide PRUNE setting. */
    prune: e.prune,
    /** With SERVE_GIT: whether this entry's published commit is served at /git/{name} (supervisor/serve-git.ts). */
    serve: e.serve ?? true,
    /** When set, `path` must stay inside it on disk too (symlinks included). */
    syncRoot: defaults.syncRoot,
    credentials: {
      sshKeyFile: e.sshKeyFile,
      knownHostsFile: e.knownHostsFile,
      usernameFile: e.usernameFile,
      passwordFile: e.passwordFile,
      /** A GitHub App installation whose tokens the supervisor mints (see supervisor/github-app.ts). */
      githubApp: e.githubApp && {
        /** The JWT issuer: the app id or its client id. */
        issuer: String(e.githubApp.appId ?? e.githubApp.clientId),
        /** Which field the issuer came from, for messages. */
        issuerField: e.githubApp.appId !== undefined ? ('appId' as const) : ('clientId' as const),
        installationId: String(e.githubApp.installationId),
        privateKeyFile: e.githubApp.privateKeyFile,
        /** API base without a trailing "/": https://api.github.com, or https://HOST/api/v3 for GHE. */
        apiUrl: (e.githubApp.apiUrl ?? GITHUB_API_DEFAULT).replace(/\/+$/, ''),
      },
      /** An endpoint answering username=/password= lines, asked on every attempt. */
      askpassUrl: e.askpassUrl,
      /** ssh keys per host, written into a private ssh config (see repo-agent/ssh-config.ts). */
      sshKeys: e.sshKeys,
      /** The listing's `credentials`, scopes normalised (shared/credential-scope.ts). */
      scoped: (e.credentials ?? []).map((c): ScopedCredential => {
        const scope = credentialScope(c.url);
        if ('reason' in scope) throw new Error('unreachable: credentials[].url was validated by the schema');
        return { url: scope.scope, usernameFile: c.usernameFile, passwordFile: c.passwordFile };
      }),
    },
    /** CREDENTIALS_FILE, read by the agent on every attempt (credentials for every entry of an origin). */
    credentialsFile: defaults.credentialsFile,
    /** The object store this entry shares with others of the same remote (set by the supervisor). */
    store: null as SharedStore | null,
    /** The consistent set this entry is published in (its path's parent is the group's link), or null. */
    group: e.group === undefined ? null : { name: e.group, prePublish: prePublishOf(e) },
    /** Signatures a commit (and tag) must carry to be published; key files read on every check. */
    verify: e.verify === undefined ? null : { mode: e.verify.mode ?? 'head', sshAllowedSignersFile: e.verify.sshAllowedSignersFile, gpgKeysFile: e.verify.gpgKeysFile },
  };
}

function prePublishOf(e: ListingEntry): { command: string[]; timeoutMs: number } | undefined {
  return e.prePublishHook && { command: e.prePublishHook.command, timeoutMs: e.prePublishHook.timeoutMs ?? 60_000 };
}

/**
 * `branch` is always a branch. The agent reads a bare 40- or 64-hex ref as a commit sha (pinned,
 * never polled), so such a branch name is spelled in full, refs/heads/<name>: a branch literally
 * named with 40 hex characters used to be fetched as a commit and never synced (#12 item 12).
 */
function branchRef(branch: string): string {
  return isObjectId(branch) ? `refs/heads/${branch}` : branch;
}

function guessEntryName(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.name === 'string' && NAME_PATTERN.test(r.name)) return r.name;
  if (typeof r.path === 'string' && !CONTROL.test(r.path)) {
    const b = basename(r.path);
    if (NAME_PATTERN.test(b)) return b;
  }
  return undefined;
}

/**
 * The listing's JSON Schema, generated from the same schema the daemon validates with; shipped as
 * schema/listing.schema.json for editors (a test keeps the file in step).
 */
export function listingJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(z.array(listingEntrySchema), { unrepresentable: 'any', io: 'input' }),
    $id: 'https://git-autosync.invalid/listing.schema.json',
    title: 'git-autosync listing',
    description: 'A JSON array of repositories to keep synced. Checks that span fields (branch vs ref, credentials vs transport) are made by the daemon.',
  };
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return `${article(t)} ${t}`;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}
