// Every git command the agent runs goes through here: simple-git underneath, a deadline that
// kills git's whole process group, a locked-down environment, and failures turned into typed,
// redacted errors with the argv, exit code and stderr.

import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimpleGit } from 'simple-git';
import { SyncError, type SyncErrorKind } from '../shared/errors.js';
import type { FetchProgress } from '../shared/protocol.js';
import { redact } from '../shared/redact.js';
import { TRANSPORTS } from '../shared/ref-and-url.js';
import { ProgressReader, withoutProgress } from './git-progress.js';
import { simpleGitFor, usingSimpleGit } from './simple-git-module.js';

const DEADLINE_WRAPPER = fileURLToPath(new URL('../../libexec/git-with-deadline', import.meta.url));
const DEADLINE_EXIT = 124;
const KILLED_EXIT = 137;

// Transports a listing may use; everything else (ext::, fd::, remote helpers) is refused by git
// itself, including for anything a fetched repository (its submodules) might ask for. `file` is
// allowed only for entries that fetch from a local path: a remote repository's submodule must
// never read local files (CVE-2022-39253).
const protocolConfig = (allowFile: boolean) => [
  'protocol.allow=never',
  ...TRANSPORTS.map((t) => `protocol.${t}.allow=${t !== 'file' || allowFile ? 'always' : 'never'}`),
  // Credentials come only from our scoped helpers (credentials.ts, through GIT_CONFIG_COUNT,
  // which also empties the helper list first: see run()). No askpass program (a global
  // core.askPass) may answer a prompt the scoped helpers left unanswered. `credential.helper=`
  // must not be given here: git reads -c after GIT_CONFIG_COUNT, so it would drop our helpers.
  'core.askPass=',
  // A detached auto-gc would outlive the command, hold locks and escape the deadline.
  'gc.autoDetach=false',
  'maintenance.auto=false',
  'advice.detachedHead=false',
];

// Variables we set on purpose; simple-git's environment guard strips every other GIT_* variable
// inherited from the process (GIT_DIR and friends would redirect commands).
const ALLOWED_ENV = [
  'GIT_TERMINAL_PROMPT',
  'GIT_SSH_COMMAND',
  'GIT_AUTOSYNC_DEADLINE_S',
  'GIT_CEILING_DIRECTORIES',
  // The scoped credential helpers (credentials.ts): a reset plus at most 65 scopes.
  'GIT_CONFIG_COUNT',
  ...Array.from({ length: 66 }, (_, i) => [`GIT_CONFIG_KEY_${i}`, `GIT_CONFIG_VALUE_${i}`]).flat(),
  // Only for a shared object store, named by us (see GitRunner's `gitDir`).
  'GIT_DIR',
];

export class GitCommandError extends SyncError {
  constructor(
    kind: SyncErrorKind,
    message: string,
    readonly argv: string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly timedOut: boolean,
  ) {
    super(kind, message);
  }
}

export interface RunOptions {
  timeoutMs: number;
  env?: Record<string, string>;
  /** Ask git for --progress (fetch, clone) and hear how far it is, parsed from its stderr. */
  progress?: (p: FetchProgress) => void;
}

/** Runs git commands in one directory. */
export class GitRunner {
  private readonly policy: { allowFileTransport: boolean; extraConfig?: string[]; gitDir?: string };
  /**
   * A repository outside `cwd` (a shared object store): git runs in the agent's own folder, where
   * a restarted agent looks for leftover processes, and is pointed at the store by GIT_DIR.
   */
  private readonly gitDir: string | undefined;
  /** The reader for the command under way that asked for progress (commands run one at a time). */
  private progressReader: ProgressReader | null = null;

  constructor(
    readonly cwd: string,
    policy: { allowFileTransport: boolean; extraConfig?: string[]; gitDir?: string } = { allowFileTransport: false },
  ) {
    this.gitDir = policy.gitDir;
    this.policy = policy;
  }

  /** This runner's simple-git instance: built on first use, and again after simple-git was let go (simple-git-module.ts). */
  private git(): SimpleGit {
    return simpleGitFor(this, (module) => this.build(module));
  }

  private build({ GitError, simpleGit }: typeof import('simple-git')): SimpleGit {
    const policy = this.policy;
    const git = simpleGit({
      baseDir: this.cwd,
      binary: DEADLINE_WRAPPER,
      // The entry's own (allowlisted) settings first, so ours always win.
      config: [...(policy.extraConfig ?? []), ...protocolConfig(policy.allowFileTransport)],
      allowEnvironment: ALLOWED_ENV,
      trimmed: false,
      maxConcurrentProcesses: 1,
      unsafe: {
        allowUnsafeCustomBinary: true,
        allowUnsafeProtocolOverride: true,
        allowUnsafeCredentialHelper: true,
        allowUnsafeSshCommand: true,
        allowUnsafeAskPass: true,
        // Our scoped credential helpers travel as GIT_CONFIG_COUNT/KEY/VALUE (credentials.ts).
        allowUnsafeConfigEnvCount: true,
        // Only ever an empty --template (init without sample hooks).
        allowUnsafeTemplateDir: true,
        // Only ever the programs verify.ts pins (gpg, gpgsm, ssh-keygen), so that no gpg.program
        // of the user's global config runs when a signature is checked.
        allowUnsafeGpgProgram: true,
      },
      errors: (error, result) => {
        if (error === undefined && result.exitCode === 0) return undefined;
        const stderr = Buffer.concat(result.stdErr).toString('utf8');
        // simple-git re-wraps anything that is not a GitError, dropping our fields.
        return Object.assign(new GitError(undefined, stderr || String(error)), { exitCode: result.exitCode, stderrText: stderr });
      },
    });
    // simple-git hands each spawned git's streams here; only a command that asked for progress
    // (maxConcurrentProcesses 1: the one under way) is read, beside simple-git's own buffering.
    git.outputHandler((_command, _stdout, stderr, args) => {
      const reader = this.progressReader;
      if (reader !== null && args.includes('--progress')) stderr.on('data', (chunk: Buffer) => reader.write(chunk));
    });
    return git;
  }

  async run(args: string[], options: RunOptions): Promise<string> {
    const env: Record<string, string> = {
      ...baseEnv(),
      ...options.env,
      GIT_TERMINAL_PROMPT: '0',
      // Only the directory we name may be the repository: if our git state is damaged, git must
      // fail, not walk up and find (and fetch into) some enclosing repository.
      GIT_CEILING_DIRECTORIES: dirname(this.cwd),
      // Deadline in seconds with a decimal part, as coreutils timeout takes it.
      GIT_AUTOSYNC_DEADLINE_S: (options.timeoutMs / 1000).toFixed(3),
    };
    if (this.gitDir !== undefined) env.GIT_DIR = this.gitDir;
    // Without credentials: still no helper from system or global config may answer or store.
    if (env.GIT_CONFIG_COUNT === undefined) Object.assign(env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'credential.helper', GIT_CONFIG_VALUE_0: '' });
    const started = Date.now();
    const onProgress = options.progress;
    // Right after the subcommand, where fetch and clone take it; --quiet does not silence it.
    const argv = onProgress === undefined ? args : [args[0] ?? '', '--progress', ...args.slice(1)];
    if (onProgress !== undefined) this.progressReader = new ProgressReader(onProgress);
    try {
      return await usingSimpleGit(() => this.git().env(env).raw(argv));
    } catch (err) {
      throw toGitCommandError(argv, err, options.timeoutMs, Date.now() - started);
    } finally {
      if (onProgress !== undefined) this.progressReader = null;
    }
  }
}

function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'USER', 'TMPDIR', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy']) {
    const v = process.env[key];
    if (v !== undefined) out[key] = v;
  }
  // English messages, so failures can be classified.
  out.LC_ALL = 'C';
  out.LANG = 'C';
  return out;
}

function toGitCommandError(args: string[], err: unknown, timeoutMs: number, elapsedMs: number): GitCommandError {
  const e = err as { message?: string; exitCode?: number; stderrText?: string };
  const exitCode = typeof e.exitCode === 'number' ? e.exitCode : null;
  const stderr = redact(withoutProgress(e.stderrText ?? e.message ?? String(err)).trim());
  const argv = ['git', ...args].map(redact);
  // 137 is also what a git killed by someone else looks like: only past the deadline is it ours.
  const timedOut = exitCode === DEADLINE_EXIT || (exitCode === KILLED_EXIT && elapsedMs >= timeoutMs);
  const kind = timedOut ? 'timeout' : classifyStderr(stderr);
  const summary = timedOut
    ? `git ${args[0] ?? ''} did not finish within ${Math.round(timeoutMs / 1000)}s and was killed`
    : exitCode === KILLED_EXIT
      ? `git ${args[0] ?? ''} was killed (SIGKILL) before it finished`
      : `git ${args[0] ?? ''} failed (exit ${exitCode ?? 'unknown'}): ${lastLines(stderr)}`;
  return new GitCommandError(kind, summary, argv, exitCode, stderr, timedOut);
}

// git's boilerplate after a transport failure; the real reason is on the lines before it.
const BOILERPLATE = /^(Please make sure you have the correct access rights|and the repository exists\.|fatal: Could not read from remote repository\.)$/;

// Longest summary of git's stderr put in an error message (the whole text stays in `stderr`).
const SUMMARY_MAX = 500;
const SAYS_WHAT_FAILED = /^(?:remote: )?(?:fatal|error):/i;
// Our own helpers' words (libexec/git-credential-autosync-none), written for the operator. A remote
// cannot forge one: git puts "remote: " before every line a server sends.
const OUR_OWN = /^git-autosync: /;

/**
 * git's stderr in one line: lines naming a known cause, then those that say what failed (`fatal:`/`error:`), in order,
 * then the rest, cut at SUMMARY_MAX. Keeping only the last lines lost the cause: an index.lock
 * left behind ends in "…are terminated then try again", the lock's path three lines up.
 */
export function lastLines(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('hint:'));
  const useful = lines.filter((l) => !BOILERPLATE.test(l));
  const kept = useful.length > 0 ? useful : lines;
  // A submodule's failure repeats its "clone … failed" line; once is enough.
  const unique = [...new Set(kept)];
  // Our own explanation first; then a line naming a known cause ("Permission denied (publickey)"),
  // which beats git's own fatal line about it ("clone of … failed"), which beats the rest.
  const rank = (l: string) => (OUR_OWN.test(l) ? -1 : PATTERNS.some(([re]) => re.test(l)) ? 0 : SAYS_WHAT_FAILED.test(l) ? 1 : 2);
  const telling = unique.filter((l) => rank(l) < 2);
  // Without such a line, the end of the output is what matters most.
  const ordered = telling.length > 0 ? [...unique].sort((a, b) => rank(a) - rank(b)) : unique.slice(-3);
  const text = ordered.join(' | ') || 'no error output';
  return text.length <= SUMMARY_MAX ? text : `${text.slice(0, SUMMARY_MAX - 1)}…`;
}

const PATTERNS: Array<[RegExp, SyncErrorKind]> = [
  // Local problems that git follows with its generic "Could not read from remote repository".
  [/detected dubious ownership|No user exists for uid|unsafe repository/i, 'local-state'],
  [/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i, 'auth'],
  [/Permission denied|Authentication failed|could not read (Username|Password)|terminal prompts disabled|HTTP Basic: Access denied|\b401\b|\b403\b|invalid credentials|Load key .*: (invalid format|error in libcrypto)/i, 'auth'],
  [/not a git repository \(or any|unable to read tree|bad signature|index file corrupt|HEAD: not a valid|invalid gitfile format/i, 'local-state'],
  [/Repository not found|does not appear to be a git repository|not found: did you run git update-server-info|\b404\b|repository .* not found|No such file or directory.*\.git|access denied or repository not exported|no such repository/i, 'not-found'],
  [/couldn't find remote ref|Remote branch .* not found|invalid refspec|not our ref|unadvertised object|bad object/i, 'invalid-ref'],
  // git reports the status but not Retry-After: the entry's own backoff applies.
  [/returned error: 429|\b429 Too Many Requests/i, 'rate-limited'],
  [/Could not resolve host|Name or service not known|Temporary failure in name resolution|Connection refused|Connection timed out|Connection reset|unable to connect|early EOF|remote end hung up|Network is unreachable|Could not read from remote repository|Operation timed out|SSL|TLS|transfer closed/i, 'network'],
  [/index\.lock|shallow\.lock|\.lock': File exists|unable to create .*: |corrupt|fatal: loose object|unable to read|No space left on device|Read-only file system|is not a valid (object|ref)/i, 'local-state'],
];

export function classifyStderr(stderr: string): SyncErrorKind {
  for (const [re, kind] of PATTERNS) if (re.test(stderr)) return kind;
  return 'git';
}
