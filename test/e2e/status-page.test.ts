// The status page in a real headless Chromium, served by the real daemon: what a person sees
// (rows, the failing one marked), hostile text shown as text, no CSP violation, phone width and
// dark mode. UPDATE_SCREENSHOTS=1 saves docs/status-page.png.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startChromium } from '../support/chromium.js';
import { startDaemon } from '../support/daemon.js';
import { startGitDaemon } from '../support/git-daemon.js';
import { RemoteRepo } from '../support/git-repo.js';
import { makeTempDir, scaled, waitFor } from '../support/tmp.js';

const SCREENSHOT = fileURLToPath(new URL('../../docs/status-page.png', import.meta.url));

// A branch name may hold markup (a listing name may not), and git's error about it names it.
const HOSTILE_BRANCH = 'feat/<img/src=x/onerror=document.title=1>';

test('the status page shows each entry as a person sees it, marks the failing one, runs no injected markup and breaks no CSP rule', async (t) => {
  const root = await makeTempDir(t);
  const serveRoot = join(root, 'remotes');
  const site = await RemoteRepo.create(serveRoot, 'site');
  const head = await site.commit({ 'index.html': 'v1' });
  const gitd = await startGitDaemon(t, serveRoot);
  const listing = join(root, 'listing.json');
  await writeFile(listing, JSON.stringify([
    { name: 'site', path: join(root, 'data', 'site'), repo: gitd.url('site'), branch: 'main' },
    { name: 'broken', path: join(root, 'data', 'broken'), repo: gitd.url('site'), branch: HOSTILE_BRANCH },
    { name: 'typo', path: join(root, 'data', 'typo'), rep: gitd.url('site') },
  ]));
  const daemon = startDaemon(t, { LISTING_PATH: listing });
  const base = await daemon.httpUrl();
  await waitFor(async () => {
    const all = (await (await fetch(`${base}/status`)).json()) as Array<{ name: string; state: string; publishedCommit: string | null }>;
    return all.find((s) => s.name === 'site')?.publishedCommit === head && all.find((s) => s.name === 'broken')?.state === 'failing';
  }, { timeoutMs: 60_000, message: 'site synced and broken failing' });

  const { browser } = await startChromium(t, root);
  const context = browser.contexts()[0] ?? (await browser.newContext());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => problems.push(`dialog: ${d.message()}`));
  await page.addInitScript({
    content: "window.violations = []; document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));",
  });
  await page.setViewportSize({ width: 1280, height: 720 });
  const response = await page.goto(`${base}/`, { waitUntil: 'load' });
  assert.equal(response?.status(), 200);

  const rows = await page.$$eval('tbody tr', (trs) =>
    trs.map((tr) => ({ name: tr.getAttribute('data-name'), className: tr.className, text: (tr as unknown as { innerText: string }).innerText })),
  );
  assert.deepEqual(rows.map((r) => r.name), ['site', 'broken', 'typo']);
  const [ok, bad, invalid] = rows;
  assert.equal(ok!.className, 'tone-ok');
  assert.match(ok!.text, /synced/);
  assert.match(ok!.text, new RegExp(head.slice(0, 12)));
  assert.equal(bad!.className, 'tone-bad', 'the failing row is marked');
  assert.match(bad!.text, /failing/);
  assert.ok(bad!.text.includes(HOSTILE_BRANCH), `the branch shows as text: ${bad!.text}`);
  assert.match(bad!.text, /invalid-ref|not-found|git/);
  assert.equal(invalid!.className, 'tone-invalid');
  assert.match(invalid!.text, /invalid listing entry/);
  assert.match(await page.innerText('#summary'), /^3 entries: 1 synced, 1 failing, 1 invalid · listing loaded at /);
  // The failing row's badge really is drawn in the failure colour, not the success one.
  // (Expressions as strings: these tests compile without the DOM's types.)
  const colour = (sel: string) => page.evaluate(`getComputedStyle(document.querySelector(${JSON.stringify(sel)})).color`);
  assert.notEqual(await colour('tr.tone-bad .badge'), await colour('tr.tone-ok .badge'));

  assert.equal(await page.$$eval('img, svg, iframe, object, embed', (els) => els.length), 0, 'no element came from the hostile text');
  assert.equal(await page.title(), 'git-autosync', 'no injected handler ran');
  // The page's own script runs (its CSP hash holds): it reloads the page after 10 s.
  await page.waitForEvent('load', { timeout: scaled(30_000) });
  assert.deepEqual(await page.evaluate('window.violations'), []);

  // Phone width: nothing wider than the screen; dark mode: a dark background.
  await page.setViewportSize({ width: 390, height: 844 });
  assert.equal(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), true, 'no sideways scrolling at phone width');
  await page.emulateMedia({ colorScheme: 'dark' });
  const bg = String(await page.evaluate('getComputedStyle(document.body).backgroundColor'));
  const [r, g, b] = (bg.match(/\d+/g) ?? []).map(Number);
  assert.ok(r! + g! + b! < 120, `dark background in dark mode: ${bg}`);
  await page.emulateMedia({ colorScheme: 'light' });

  if (process.env.UPDATE_SCREENSHOTS === '1') {
    await page.setViewportSize({ width: 1280, height: 400 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  }
  assert.deepEqual(problems, [], 'no console error or warning, no page error, no dialog');
});
