// simple-git, loaded when a git command is about to run and let go again once git has been idle
// for a while: an agent whose polls are answered in process (probe.ts) runs git only to fetch
// and check out, so between syncs it need not keep simple-git (2.4–2.6 MB private per agent,
// measured: bench/agent-memory.ts) loaded. The price is paid by the first sync after a release:
// loading it again took 11 ms of CPU in a process that had loaded it before (40 ms the first time,
// measured with the agents' flags on the loaded 2-core machine). The sync of a push took 239, 252,
// 214 ms after a release and 239, 177, 219 ms while loaded (bench/agent-memory.ts, load 13): the
// difference is within the spread. What the release gives back is small, though: idle agents had
// 10.2 MiB private with it and 10.3-10.5 without (same bench): once used, V8 and malloc keep most
// of the pages. The whole 2.4 MiB stays away only while git has not run.

import { createRequire } from 'node:module';

import type { SimpleGit } from 'simple-git';

type SimpleGitModule = typeof import('simple-git');

/**
 * Idle time after which simple-git is let go. Longer than the default poll interval (10 s), so
 * an entry whose polls do need git (ssh, or a host the probe cannot ask) keeps it loaded and
 * pays no reload per poll; an entry polled by the probe lets it go this long after its sync.
 */
export const RELEASE_AFTER_MS = 30_000;

const require = createRequire(import.meta.url);
let loaded: SimpleGitModule | null = null;
/** The files the load of simple-git added to require's cache: what a release takes out again. */
let loadedFiles: string[] = [];
/** Each runner's simple-git instance, on the module loaded now: emptied on release. */
let instances = new WeakMap<object, SimpleGit>();
/** Commands running now (any runner): never released under one. */
let busy = 0;
let releaseTimer: NodeJS.Timeout | null = null;
let loads = 0;

/**
 * `owner`'s simple-git instance, built by `build` on the module loaded now. simple-git's CommonJS
 * build is required rather than imported: an ES import of it (its ESM build imports the
 * CommonJS `debug`, which boots the ES-to-CommonJS bridge) cost an idle agent 3.5 MB private,
 * the CommonJS build 2.4 MB (measured with the agents' node flags, Node 20).
 */
export function simpleGitFor(owner: object, build: (module: SimpleGitModule) => SimpleGit): SimpleGit {
  let git = instances.get(owner);
  if (git !== undefined) return git;
  if (loaded === null) {
    const before = new Set(Object.keys(require.cache));
    loaded = require('simple-git') as SimpleGitModule;
    loadedFiles = Object.keys(require.cache).filter((f) => !before.has(f));
    loads += 1;
  }
  git = build(loaded);
  instances.set(owner, git);
  return git;
}

/** Around every git command: simple-git stays loaded while commands run and RELEASE_AFTER_MS after. */
export async function usingSimpleGit<T>(fn: () => Promise<T>): Promise<T> {
  busy += 1;
  if (releaseTimer !== null) clearTimeout(releaseTimer);
  releaseTimer = null;
  try {
    return await fn();
  } finally {
    busy -= 1;
    if (busy === 0) {
      releaseTimer = setTimeout(releaseSimpleGit, RELEASE_AFTER_MS);
      // Never what keeps an agent alive.
      releaseTimer.unref();
    }
  }
}

/**
 * Let go of simple-git: every runner's instance, and the files its load added to require's
 * cache (only those: a native addon such as koffi must never be loaded twice), so that nothing
 * holds it and V8 collects it. The next command loads it again.
 */
export function releaseSimpleGit(): void {
  releaseTimer = null;
  if (busy > 0 || loaded === null) return;
  loaded = null;
  instances = new WeakMap();
  for (const file of loadedFiles) delete require.cache[file];
  loadedFiles = [];
}

/** For tests: how often simple-git was loaded, and whether it is loaded now. */
export function simpleGitLoads(): { loads: number; loaded: boolean } {
  return { loads, loaded: loaded !== null };
}
