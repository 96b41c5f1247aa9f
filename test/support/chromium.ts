// Real headless Chromium (Debian's /usr/bin/chromium) for tests of what a person sees: started
// as our own process with a fresh profile in the test's temp dir, driven over the DevTools
// protocol by playwright-core (no browser download), and stopped by its pid when the test ends.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { processesWhere, startServerProcess } from './process.js';
import { waitFor, type Cleanup } from './tmp.js';

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
  const profile = join(tempDir, `chromium-profile-${server.port}`);
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${server.port}`, { timeout: 60_000 });
  // The process itself is stopped by its pid (startServerProcess's clean-up); this drops the connection.
  t.after(() => browser.close().catch(() => undefined));
  // The browser's own exit does not wait for its helpers: its network process, still flushing the
  // disk cache, re-created <profile>/Default/Cache in a temp dir already removed (two busy loops
  // and two copies of the suite showed it). Wait until every process of this profile is gone
  // (each names it in --user-data-dir), killing by pid what outlives the deadline; the temp dir's
  // final sweep at exit then finds nothing writing.
  t.after(async () => {
    await server.stop();
    const helpers = () => profileProcesses(profile);
    await waitFor(() => helpers().length === 0, { timeoutMs: 15_000, message: 'chromium helpers exit' }).catch(() => {
      for (const pid of helpers()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
    });
  });
  return { browser, pid: server.pid };
}

/** Pids of the processes whose command line names this profile folder. */
function profileProcesses(profile: string): number[] {
  const flag = `--user-data-dir=${profile}\0`;
  return processesWhere((pid) => `${readFileSync(`/proc/${pid}/cmdline`, 'utf8')}\0`.includes(flag));
}
