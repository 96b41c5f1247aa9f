// The fixture most daemon tests start from: a temp folder holding remote repositories, each with
// a first commit, served on 127.0.0.1 (git daemon unless told otherwise); and a daemon that syncs
// one of them only when triggered. Issue #15: this set-up was copied in eight test files.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { startGitDaemon, type GitServer } from './git-daemon.js';
import { RemoteRepo, type FileChanges } from './git-repo.js';
import { makeTempDir, type Cleanup } from './tmp.js';

export interface ServedRepos<N extends string, S extends GitServer = GitServer> {
  root: string;
  /** Where the bare repositories (and their working clones) live. */
  serveRoot: string;
  repos: Record<N, RemoteRepo>;
  /** Each repository's first commit. */
  heads: Record<N, string>;
  git: S;
  /** `<root>/data`, where entries publish. */
  data: string;
  /** `<root>/listing.json`, not written yet. */
  listing: string;
}

export interface ServeOptions<S extends GitServer> {
  /** makeTempDir's prefix for the root. */
  prefix?: string;
  /** The server for the repositories; a git daemon by default. */
  serve?: (serveRoot: string) => Promise<S>;
}

/** One repository per key, its first commit made of the given files, all served by one server. */
export async function serveRepos<N extends string, S extends GitServer = GitServer>(
  t: Cleanup,
  firstCommits: Record<N, FileChanges>,
  opts: ServeOptions<S> = {},
): Promise<ServedRepos<N, S>> {
  const root = await makeTempDir(t, opts.prefix);
  const serveRoot = join(root, 'remotes');
  const repos = {} as Record<N, RemoteRepo>;
  const heads = {} as Record<N, string>;
  for (const name of Object.keys(firstCommits) as N[]) {
    repos[name] = await RemoteRepo.create(serveRoot, name);
    heads[name] = await repos[name].commit(firstCommits[name]);
  }
  const git = opts.serve !== undefined ? await opts.serve(serveRoot) : ((await startGitDaemon(t, serveRoot)) as S);
  return { root, serveRoot, repos, heads, git, data: join(root, 'data'), listing: join(root, 'listing.json') };
}

export interface TriggeredDaemon {
  root: string;
  site: RemoteRepo;
  /** The commit published at start. */
  first: string;
  git: GitServer;
  daemon: RunningDaemon;
  /** The daemon's HTTP base URL. */
  base: string;
}

/**
 * A daemon with one entry, `site` (first commit `v.txt: 1`), polled only every ten minutes, so
 * that anything published quickly was triggered; with a webhook secret and a sync token in
 * files. Resolves once the first commit is published.
 */
export async function startTriggeredDaemon(t: Cleanup, opts: { secret: string; token: string; prefix?: string }): Promise<TriggeredDaemon> {
  const s = await serveRepos(t, { site: { 'v.txt': '1' } }, opts.prefix === undefined ? {} : { prefix: opts.prefix });
  await writeFile(join(s.root, 'webhook-secret'), `${opts.secret}\n`);
  await writeFile(join(s.root, 'sync-token'), opts.token);
  await writeFile(s.listing, JSON.stringify([{ path: join(s.data, 'site'), repo: s.git.url('site'), branch: 'main' }]));
  // Interval of ten minutes: anything published quickly was triggered, not polled.
  const daemon = startDaemon(t, {
    LISTING_PATH: s.listing,
    SCRAPE_INTERVAL: '600000',
    WEBHOOK_SECRET_FILE: join(s.root, 'webhook-secret'),
    SYNC_TOKEN_FILE: join(s.root, 'sync-token'),
  });
  const base = await daemon.httpUrl();
  await daemon.waitForLog((l) => l.message === 'published' && l.commit === s.heads.site, 'first publish');
  return { root: s.root, site: s.repos.site, first: s.heads.site, git: s.git, daemon, base };
}

/** The two-remote fixture: `one` and `two`, whose first commits write `name.txt`. */
export async function serveTwoRepos(t: Cleanup) {
  const s = await serveRepos(t, { one: { 'name.txt': 'one\n' }, two: { 'name.txt': 'two\n' } });
  return { root: s.root, one: s.repos.one, two: s.repos.two, oneHead: s.heads.one, twoHead: s.heads.two, git: s.git, data: s.data, listing: s.listing };
}
