// Builds the tree the image's runtime stage builds — its COPY and `npm ci` instructions, read from
// the Dockerfile and replayed into a temp dir — then runs the daemon from that tree, as the image's
// ENTRYPOINT does, against a real repo. A runtime import of a dev dependency, a file the image
// forgets to copy or a missing helper script fails here, without a Docker engine.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { builtinModules } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { watchDaemon, type RunningDaemon } from '../support/daemon.js';
import { execForm, parseCopy, parseDockerfile, parseEnv, runCommands, type Stage } from '../support/dockerfile.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { publishedCommit, readPublishedFile } from '../support/published.js';
import { makeTempDir, waitFor, type Cleanup } from '../support/tmp.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const stages = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1)!;

interface Tree {
  /** Stands for the image's "/": the Dockerfile's absolute paths are resolved under it. */
  root: string;
  /** The runtime stage's WORKDIR inside root. */
  appDir: string;
  /** The ENTRYPOINT's command after tini, with paths mapped into root. */
  command: string[];
  /** The ENV the image sets. */
  env: Record<string, string>;
}

function workdirOf(stage: Stage): string {
  const w = stage.instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args.trim();
  assert.ok(w !== undefined && posix.isAbsolute(w), 'each stage sets an absolute WORKDIR');
  return w;
}

/** Where a file of the build stage comes from here: the stage compiles src/ into dist/ as `npm run build` does locally. */
function localPathOfBuildOutput(stageName: string, source: string): string {
  const stage = stages.find((s) => s.name === stageName);
  assert.ok(stage !== undefined, `stage ${stageName}`);
  const rel = posix.relative(workdirOf(stage), source);
  assert.ok(!rel.startsWith('..'), `${source} lies in stage ${stageName}'s WORKDIR`);
  const local = join(repoRoot, rel);
  assert.ok(existsSync(local), `${local} is missing: run "npm run build" first (npm test does)`);
  return local;
}

function buildTree(): Tree {
  // realpath: tmpdir() may be a symlink; 0755 so that another UID can reach the tree.
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'gas-image-')));
  chmodSync(root, 0o755);
  const workdir = workdirOf(runtime);
  const appDir = join(root, workdir);
  mkdirSync(appDir, { recursive: true });
  let installs = 0;
  for (const ins of runtime.instructions) {
    if (ins.keyword === 'COPY') {
      const copy = parseCopy(ins);
      const dest = join(root, posix.resolve(workdir, copy.dest));
      for (const source of copy.sources) {
        const from = copy.flags.from === undefined ? join(repoRoot, source) : localPathOfBuildOutput(copy.flags.from, source);
        // As COPY does: a folder's contents go into dest; a file goes into dest when dest ends in "/".
        const target = statSync(from).isDirectory() || !copy.dest.endsWith('/') ? dest : join(dest, posix.basename(source));
        cpSync(from, target, { recursive: true });
        if (copy.flags.chmod !== undefined) chmodTree(target, parseInt(copy.flags.chmod, 8));
      }
    } else if (ins.keyword === 'RUN') {
      for (const cmd of runCommands(ins).filter((c) => c[0] === 'npm' && c[1] === 'ci')) {
        installs++;
        // The local npm cache makes this fast and lets it work offline once the cache is warm.
        const r = spawnSync('npm', [...cmd.slice(1), '--prefer-offline'], { cwd: appDir, encoding: 'utf8', timeout: 240_000 });
        assert.equal(r.status, 0, `${cmd.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
      }
    }
  }
  assert.equal(installs, 1, 'the runtime stage runs npm ci once');
  const entry = execForm(runtime.instructions.find((i) => i.keyword === 'ENTRYPOINT')!)!;
  assert.deepEqual(entry.slice(0, 3), ['tini', '--', 'node']);
  const command = [process.execPath, ...entry.slice(3).map((a) => (posix.isAbsolute(a) ? join(root, a) : a))];
  const env = Object.assign({}, ...runtime.instructions.filter((i) => i.keyword === 'ENV').map(parseEnv)) as Record<string, string>;
  return { root, appDir, command, env };
}

function chmodTree(path: string, mode: number): void {
  chmodSync(path, mode);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chmodTree(join(path, e), mode);
}

let tree: Tree;
before(() => {
  tree = buildTree();
});
after(() => {
  if (tree !== undefined) rmSync(tree.root, { recursive: true, force: true, maxRetries: 3 });
});

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    return d.isDirectory() ? jsFiles(p) : d.name.endsWith('.js') ? [p] : [];
  });
}

test('every package the compiled code imports is a production dependency and resolves in the production tree', () => {
  const pkg = JSON.parse(readFileSync(join(tree.appDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const builtins = new Set(builtinModules);
  const specifiers = new Set<string>();
  for (const file of jsFiles(join(tree.appDir, 'dist'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g)) {
      const spec = m[2]!;
      if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
      specifiers.add(spec);
    }
  }
  assert.ok(specifiers.size > 0, 'found the imports of dist/');
  for (const spec of specifiers) {
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
    assert.ok(name in pkg.dependencies, `dist/ imports ${spec}, but ${name} is not in "dependencies"`);
  }
  // Resolved from the tree itself: nothing above it may lend a package.
  const probe = [...specifiers].map((s) => `await import(${JSON.stringify(s)});`).join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: tree.appDir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  assert.equal(r.status, 0, `imports fail in the production tree:\n${r.stderr}`);
  assert.ok(!existsSync(join(tree.appDir, 'node_modules', 'typescript')), 'no dev dependency in the tree');
});

/** The image's ENTRYPOINT, run from the tree with the image's ENV, and nothing of this process's environment but PATH. */
function startFromTree(t: Cleanup, env: Record<string, string>, opts: Pick<SpawnOptions, 'uid' | 'gid'> = {}): RunningDaemon {
  const child = spawn(tree.command[0]!, tree.command.slice(1), {
    cwd: tree.appDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...tree.env, LOG_FORMAT: 'json', LOG_LEVEL: 'debug', HTTP_BIND: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
  return watchDaemon(t, child);
}

async function remoteWithCommit(t: Cleanup) {
  const serveRoot = await makeTempDir(t, 'gas-remote-');
  const remote = await RemoteRepo.create(serveRoot, 'site');
  const first = await remote.commit({ 'index.html': '<h1>one</h1>\n' });
  const server = await startGitDaemon(t, serveRoot);
  return { remote, first, url: server.url('site') };
}

test('the daemon runs from the production tree and publishes a repo, then follows a push', async (t) => {
  const { remote, first, url } = await remoteWithCommit(t);
  const work = await makeTempDir(t, 'gas-volume-');
  const home = join(work, 'home');
  mkdirSync(home);
  const listing = join(work, 'listing.json');
  const path = join(work, 'repos', 'site');
  writeFileSync(listing, JSON.stringify([{ path, repo: url, branch: 'main' }]));
  const daemon = startFromTree(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200', STALE_AFTER: '200', HOME: home });

  await waitFor(() => publishedCommit(path) === first, { timeoutMs: 30_000, message: `site published at ${first}; output:\n${daemon.output().slice(-3000)}` });
  assert.equal(readPublishedFile(path, 'index.html'), '<h1>one</h1>\n');
  const base = await daemon.httpUrl();
  // The tree is on disk a moment before the agent's report reaches the supervisor.
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, { message: 'ready once the publish is reported' });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /git_autosync_sync_total\{[^}]*repo="site"/);

  const second = await remote.commit({ 'index.html': '<h1>two</h1>\n' });
  await waitFor(() => publishedCommit(path) === second, { timeoutMs: 30_000, message: 'the push is published' });
  assert.equal(readPublishedFile(path, 'index.html'), '<h1>two</h1>\n');

  await daemon.stop();
  assert.equal(await daemon.exited, 0, `SIGTERM ends the daemon cleanly; output:\n${daemon.output().slice(-2000)}`);
});

test('under an arbitrary UID in group 0 (OpenShift), the daemon publishes into a group-writable volume', { skip: process.getuid?.() !== 0 && 'needs root to switch UID' }, async (t) => {
  const { first, url } = await remoteWithCommit(t);
  const work = await makeTempDir(t, 'gas-volume-');
  chmodSync(work, 0o755);
  // What the image gives: a HOME that group 0 may write; and what a cluster gives: a volume
  // writable by the pod's group (fsGroup, or group 0 on OpenShift).
  const home = join(work, 'home');
  const volume = join(work, 'repos');
  for (const dir of [home, volume]) {
    mkdirSync(dir);
    chmodSync(dir, 0o770);
  }
  const listing = join(work, 'listing.json');
  const path = join(volume, 'site');
  writeFileSync(listing, JSON.stringify([{ path, repo: url, branch: 'main' }]));
  chmodSync(listing, 0o644);
  const daemon = startFromTree(t, { LISTING_PATH: listing, SCRAPE_INTERVAL: '200', HOME: home }, { uid: 1_000_680_000, gid: 0 });

  await waitFor(() => publishedCommit(path) === first, { timeoutMs: 30_000, message: `site published at ${first}; output:\n${daemon.output().slice(-3000)}` });
  const stateDir = join(dirname(path), '.site.git-autosync');
  assert.equal(statSync(stateDir).uid, 1_000_680_000, 'the state is written by that UID');
  await daemon.stop();
  assert.equal(await daemon.exited, 0);
});
