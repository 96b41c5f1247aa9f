#!/usr/bin/env node
// Offline demo: a local bare repo, the daemon syncing it, a few pushes. Shows the published path
// flipping from commit to commit, then cleans up. Needs only git and a built dist/ (npm run demo).

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'git-autosync-demo-'));
const env = { ...process.env, GIT_AUTHOR_NAME: 'demo', GIT_AUTHOR_EMAIL: 'demo@example.invalid', GIT_COMMITTER_NAME: 'demo', GIT_COMMITTER_EMAIL: 'demo@example.invalid' };
// git's own chatter (hints, warnings) stays out of the demo's story; a failure still throws with it.
const git = (cwd, ...args) => execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const bare = join(root, 'site.git');
const work = join(root, 'work');
git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
// init + remote, not a clone of the still empty repo (git warns "You appear to have cloned an empty repository").
git(root, 'init', '--quiet', '--initial-branch=main', work);
git(work, 'remote', 'add', 'origin', bare);
const push = (n) => {
  writeFileSync(join(work, 'index.html'), `<h1>version ${n}</h1>\n`);
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '-m', `version ${n}`);
  git(work, 'push', '--quiet', 'origin', 'main');
  return git(work, 'rev-parse', 'HEAD');
};
push(1);

const published = join(root, 'volume', 'site');
const listing = join(root, 'listing.json');
// The original tool's listing format, unchanged.
writeFileSync(listing, JSON.stringify([{ path: published, repo: bare, branch: 'main' }], null, 2));
console.log(`demo folder: ${root}\nlisting:\n${readFileSync(listing, 'utf8')}`);

const port = await new Promise((resolve) => {
  const srv = createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});
const base = `http://127.0.0.1:${port}`;
const daemon = spawn(process.execPath, [cli], {
  env: { ...process.env, LISTING_PATH: listing, SCRAPE_INTERVAL: '500', LOG_FORMAT: 'text', HTTP_BIND: `127.0.0.1:${port}` },
  stdio: ['ignore', 'inherit', 'inherit'],
});

// A first clone on a starved machine can take many seconds: wait long, but not for ever
// (the test suite passes its slowdown on as TEST_SLOWDOWN).
const WAIT_MS = 60_000 * Math.max(1, Number(process.env.TEST_SLOWDOWN) || 1);

async function waitForCommit(sha) {
  for (const end = Date.now() + WAIT_MS; Date.now() < end; ) {
    try {
      if (basename(readlinkSync(published)) === sha) return true;
    } catch {
      /* not published yet */
    }
    await sleep(100);
  }
  return false;
}

try {
  for (let n = 1; n <= 3; n++) {
    const sha = n === 1 ? git(work, 'rev-parse', 'HEAD') : push(n);
    const ok = await waitForCommit(sha);
    console.log(`\n>>> push ${n}: ${sha.slice(0, 12)} ${ok ? 'published' : `NOT published within ${WAIT_MS / 1000} s`}`);
    if (!ok) {
      process.exitCode = 1;
      break;
    }
    console.log(`>>> ${published} -> ${readlinkSync(published)}`);
    console.log(`>>> index.html: ${readFileSync(join(published, 'index.html'), 'utf8').trim()}`);
  }
  console.log(`\n>>> GET ${base}/readyz -> ${(await fetch(`${base}/readyz`)).status}`);
  console.log(`>>> GET ${base}/status/site\n${await (await fetch(`${base}/status/site`)).text()}`);
  const metrics = (await (await fetch(`${base}/metrics`)).text()).split('\n').filter((l) => l.startsWith('git_autosync_') && !l.includes('_bucket'));
  console.log(`>>> GET ${base}/metrics (git_autosync_* series)\n${metrics.join('\n')}`);
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(root, { recursive: true, force: true });
  console.log('\ndemo done; cleaned up');
}
