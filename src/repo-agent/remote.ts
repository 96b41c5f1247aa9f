// Asking the remote what a ref points at (in process when the transport allows, else with git
// ls-remote) and fetching exactly that commit.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Log } from '../shared/log.js';
import { displayUrl } from '../shared/redact.js';
import { isObjectId } from '../shared/object-id.js';
import type { FetchProgress } from '../shared/protocol.js';
import { SEMVER_REF_PREFIX } from '../shared/entry-fields.js';
import { createRequire } from 'node:module';
import type { Credentials } from './credentials.js';
import type { EntryGit } from './entry-git.js';
import type { GitRunner } from './git.js';
import { removeFetchLeftovers } from './repair.js';
import { HttpProber, probeGit, type ProbeResult, type ProbeTarget } from './probe.js';
import { RateLimitedError } from './rate-limit.js';

// After this many polls where git answered and the in-process probe could not, stop probing.
const PROBE_MISSES_ALLOWED = 3;

export interface RemoteTarget {
  /** What to fetch: a full ref name, HEAD, or a sha. */
  source: string;
  /** The commit ls-remote saw; null when not asked (first sync, or a pinned sha). */
  seen: string | null;
  /** For a semver ref: the tag chosen and its version. */
  tag?: ResolvedTag;
}

export interface ResolvedTag {
  name: string;
  version: string;
}

/** The repository a fetch writes into (see repositories/). */
export interface FetchInto {
  git: GitRunner;
  gitDir: string;
  /** Where fetched commits are kept reachable in the repository. */
  targetRef: string;
}

export class Remote {
  private httpProber: HttpProber | null = null;
  /** Polls where the in-process probe could not answer but git could. */
  private probeMisses = 0;

  constructor(
    private readonly entry: ResolvedEntry,
    private readonly log: Log,
    private readonly git: EntryGit,
    /** Hears how far each fetch is (git's --progress); none: git is not asked for it. */
    private readonly onProgress?: (p: FetchProgress) => void,
  ) {}

  close(): void {
    this.httpProber?.close();
  }

  /** A semver ref names no ref: the remote is asked even when nothing is published to compare. */
  get mustAsk(): boolean {
    return this.entry.ref?.startsWith(SEMVER_REF_PREFIX) ?? false;
  }

  /** Find the remote commit with one ls-remote; `git` null skips the call (nothing to compare). */
  async resolve(git: GitRunner | null, creds: Credentials): Promise<RemoteTarget> {
    const ref = this.entry.ref;
    if (ref !== null && isObjectId(ref)) return { source: ref, seen: ref }; // pinned: never polled
    if (ref !== null && ref.startsWith(SEMVER_REF_PREFIX)) {
      if (git === null) throw new Error('a semver ref is resolved by asking the remote (Remote.mustAsk)');
      return this.resolveSemver(git, creds, ref.slice(SEMVER_REF_PREFIX.length));
    }
    if (git === null) return { source: this.fetchSource(), seen: null };
    const patterns = ref === null ? ['HEAD'] : ref.startsWith('refs/') ? [ref, `${ref}^{}`] : [`refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`];
    const refs = await this.listRemoteRefs(git, creds, patterns);
    const candidates = ref === null ? ['HEAD'] : ref.startsWith('refs/') ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`];
    for (const name of candidates) {
      const sha = refs.get(`${name}^{}`) ?? refs.get(name);
      if (sha !== undefined) return { source: name, seen: sha };
    }
    throw new SyncError('invalid-ref', `ref "${ref ?? 'HEAD'}" was not found on ${displayUrl(this.entry.repo)}`);
  }

  /**
   * The highest tag whose name (with or without a leading "v") is a version in `range`, from one
   * listing of refs/tags/ (in process where the transport allows); pre-releases only when the
   * range names one (semver's own rule). Equal versions (v1.4.2 and 1.4.2): the first by name.
   */
  private async resolveSemver(git: GitRunner, creds: Credentials, range: string): Promise<RemoteTarget> {
    // Only entries with a semver ref load semver (see refProblem in entry-fields.ts).
    const require = createRequire(import.meta.url);
    const maxSatisfying = require('semver/ranges/max-satisfying') as typeof import('semver/ranges/max-satisfying.js');
    const validVersion = require('semver/functions/valid') as typeof import('semver/functions/valid.js');
    const refs = await this.listRemoteRefs(git, creds, ['refs/tags/*']);
    const byVersion = new Map<string, string>();
    for (const name of [...refs.keys()].filter((n) => n.startsWith('refs/tags/') && !n.endsWith('^{}')).sort()) {
      const version = validVersion(name.slice('refs/tags/'.length));
      if (version !== null && !byVersion.has(version)) byVersion.set(version, name);
    }
    const best = maxSatisfying([...byVersion.keys()], range);
    if (best === null) throw new SyncError('invalid-ref', `no tag on ${displayUrl(this.entry.repo)} is a version in the range "${range}"`);
    const source = byVersion.get(best)!;
    const seen = refs.get(`${source}^{}`) ?? refs.get(source)!;
    return { source, seen, tag: { name: source.slice('refs/tags/'.length), version: best } };
  }

  /** Fetch `source` and return exactly the commit fetched (FETCH_HEAD), never a hash read earlier. */
  async fetch(into: FetchInto, source: string, env: Record<string, string>, alsoRefspecs: string[] = []): Promise<string> {
    const { git, gitDir, targetRef } = into;
    // --quiet would silence our side's progress (receiving, resolving) even with --progress.
    const args = ['fetch', '--no-tags', '--no-recurse-submodules', ...(this.onProgress === undefined ? ['--quiet'] : [])];
    if (this.entry.depth > 0) args.push(`--depth=${this.entry.depth}`);
    else if (await stat(join(gitDir, 'shallow')).then(() => true, () => false)) args.push('--unshallow');
    if (this.entry.filter !== null) args.push(`--filter=${this.entry.filter}`);
    // Through the remote named origin (its URL is the entry's): partial clones fetch missing
    // objects from it later, and relative submodule URLs resolve against it.
    // Ours first: FETCH_HEAD's first line, read below, is then our commit.
    args.push('--end-of-options', 'origin', `+${source}:${targetRef}`, ...alsoRefspecs);
    const started = Date.now();
    try {
      await git.run(args, this.onProgress === undefined ? this.git.opts(env) : { ...this.git.opts(env), progress: this.onProgress });
    } catch (err) {
      // Give back at once the space a failed fetch took (callers hold the store's lock).
      const removed = await removeFetchLeftovers(gitDir).catch(() => []);
      if (removed.length > 0) this.log.info('removed partial objects of a failed fetch', { files: removed.length });
      throw err;
    }
    // Holding the store's lock, our ref is exactly what this fetch wrote (with other entries'
    // refs fetched along, FETCH_HEAD has several lines).
    const fetched = alsoRefspecs.length === 0 ? 'FETCH_HEAD' : targetRef;
    const commit = (await git.run(['rev-parse', '--verify', `${fetched}^{commit}`], this.git.opts())).trim();
    if (!isObjectId(commit)) throw new SyncError('git', `unexpected FETCH_HEAD: ${commit.slice(0, 80)}`);
    this.log.debug('fetched', { commit, refs: 1 + alsoRefspecs.length, durationMs: Date.now() - started });
    return commit;
  }

  /**
   * The remote's refs for `patterns`: asked in process when the transport allows (no process
   * spawned for an unchanged poll), else, or when the probe cannot tell, by `git ls-remote`.
   */
  private async listRemoteRefs(git: GitRunner, creds: Credentials, patterns: string[]): Promise<Map<string, string>> {
    const prober = this.prober();
    let probeFailure: string | null = null;
    if (prober !== null) {
      // ls-remote's "refs/tags/*" is the probe's prefix "refs/tags/".
      const prefixes = patterns.filter((p) => !p.endsWith('^{}')).map((p) => p.replace(/\*$/, ''));
      const result = await prober({ url: this.entry.repo, prefixes, auth: creds.httpAuth, timeoutMs: Math.min(this.entry.timeoutMs, 30_000) });
      if ('refs' in result) return result.refs;
      // Asking again with ls-remote is exactly what the host asked us not to do.
      if ('rateLimited' in result) throw new RateLimitedError(displayUrl(this.entry.repo), result.rateLimited);
      probeFailure = result.unknown;
    }
    const out = await git.run(['ls-remote', '--end-of-options', this.entry.repo, ...patterns], this.git.opts(creds.env));
    if (probeFailure !== null) {
      // git could answer where the probe could not: after a few such polls, leave it to git.
      this.probeMisses += 1;
      this.log.debug('in-process ref probe failed; git ls-remote answered', { reason: probeFailure, misses: this.probeMisses });
      if (this.probeMisses >= PROBE_MISSES_ALLOWED) this.log.info('in-process ref probe disabled for this repo; polling with git ls-remote', { reason: probeFailure });
    }
    const refs = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [sha, name] = line.split('\t');
      if (sha !== undefined && name !== undefined) refs.set(name, sha);
    }
    return refs;
  }

  /** The probe for this entry's transport, or null where only git can ask (ssh, proxies, TLS settings). */
  private prober(): ((t: ProbeTarget) => Promise<ProbeResult>) | null {
    if (this.probeMisses >= PROBE_MISSES_ALLOWED) return null;
    const t = this.entry.transport;
    if (t === 'git') return probeGit;
    if (t !== 'http' && t !== 'https') return null;
    // git would go through a proxy or use TLS settings the probe does not know: let git ask.
    const proxied = ['HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'https_proxy', 'http_proxy', 'all_proxy'].some((k) => (process.env[k] ?? '') !== '');
    if (proxied || this.entry.gitConfig.some((kv) => /^https?\./i.test(kv))) return null;
    // A CA bundle named for OpenSSL (and so for git) is the probe's too; a CA folder is not supported.
    const caFile = process.env.SSL_CERT_FILE;
    if (t === 'https' && !caFile && process.env.SSL_CERT_DIR) return null;
    this.httpProber ??= new HttpProber(t === 'https', t === 'https' ? caFile : undefined);
    const p = this.httpProber;
    return (target) => p.probe(target);
  }

  /**
   * What to fetch without having asked the remote: HEAD, or the ref as written (a full ref, a
   * sha, or a short name that git resolves by its own rules, refs/heads first, then refs/tags).
   */
  private fetchSource(): string {
    return this.entry.ref ?? 'HEAD';
  }
}
