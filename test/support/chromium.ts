// Real headless Chromium (Debian's /usr/bin/chromium) for tests of what a person sees: started
// as our own process with a fresh profile in the test's temp dir, driven over the DevTools
// protocol by playwright-core (no browser download), and stopped by its pid when the test ends.
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startServerProcess } from './process.js';
import type { Cleanup } from './tmp.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Flags that work on this kind of machine (no GPU, no sandbox as root) and keep the browser
// from reaching anywhere but the page under test.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--remote-debugging-address=127.0.0.1',
];

export interface RunningChromium {
  readonly browser: Browser;
  readonly pid: number;
}

export async function startChromium(t: Cleanup, tempDir: string): Promise<RunningChromium> {
  const server = await startServerProcess(t, {
    name: 'chromium',
    command: CHROMIUM,
    args: (port) => [...FLAGS, `--remote-debugging-port=${port}`, `--user-data-dir=${join(tempDir, `chromium-profile-${port}`)}`, 'about:blank'],
    // Chromium keeps its singleton socket in a folder of TMPDIR, which it removes only on a clean
    // exit; stopped by signal, it left /tmp/org.chromium.Chromium.* behind on every run.
    env: { ...process.env, TMPDIR: tempDir },
    readyText: () => 'DevTools listening on',
    startTimeoutMs: 60_000,
  });
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${server.port}`, { timeout: 60_000 });
  // The process itself is stopped by its pid (startServerProcess's clean-up); this drops the connection.
  t.after(() => browser.close().catch(() => undefined));
  return { browser, pid: server.pid };
}
