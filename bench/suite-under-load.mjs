#!/usr/bin/env node
// The test suite on a starved machine (issue #14's "must show"): two busy loops pin both cores and
// a second copy of the suite runs beside the first; both must pass, and nothing either started may
// be left behind: no process, no temp folder, no runtime folder in /dev/shm, no mount.
// Run: npm run build && node bench/suite-under-load.mjs   (takes 20–40 min on 2 cores)
//
// Leftovers are found by difference: processes, temp entries and mounts that exist after the run
// and did not before. Run it on a machine where nothing else starts processes meanwhile, or the
// difference names those too (it prints what it found, so a person can tell).

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const busyLoops = Number(process.env.BUSY_LOOPS ?? availableParallelism());
const copies = Number(process.env.SUITE_COPIES ?? 2);
// The busy loops stop by themselves even if this script is killed: bounded in time as every load is.
const maxMinutes = Number(process.env.MAX_MINUTES ?? 80);

function processes() {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmd) out.set(Number(d), cmd);
    } catch {
      // gone while we looked
    }
  }
  return out;
}
const tempEntries = () => [
  ...readdirSync(tmpdir()).map((n) => join(tmpdir(), n)),
  ...(existsSync('/dev/shm') ? readdirSync('/dev/shm').map((n) => join('/dev/shm', n)) : []),
];
const mounts = () => readFileSync('/proc/self/mounts', 'utf8').split('\n').filter(Boolean);
function snapshot() {
  return { processes: processes(), temp: new Set(tempEntries()), mounts: new Set(mounts()) };
}

const before = snapshot();
const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(0)} s]`;
console.log(`${stamp()} load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${busyLoops} busy loops, ${copies} copies of the suite`);

const loops = Array.from({ length: busyLoops }, () =>
  spawn(process.execPath, ['-e', `const end = Date.now() + ${maxMinutes * 60_000}; while (Date.now() < end) {}`], { stdio: 'ignore' }),
);

function runSuite(i) {
  return new Promise((resolve) => {
    const log = join(tmpdir(), `suite-under-load-${process.pid}-${i}.log`);
    const chunks = [];
    const child = spawn(process.execPath, ['test/run.mjs'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    // Progress as it goes (a run takes most of an hour): each file's verdict line, with the copy's number.
    let partial = '';
    child.stdout.on('data', (c) => {
      chunks.push(c);
      const lines = (partial + c.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (/^# ---- .*: (passed|FAILED)/.test(l)) console.log(`${stamp()} copy ${i}: ${l.slice(7)}`);
    });
    child.stderr.on('data', (c) => chunks.push(c));
    child.on('close', (code, signal) => {
      const text = Buffer.concat(chunks).toString('utf8');
      writeFileSync(log, text);
      const n = (k) => Number(new RegExp(`^# ${k} (\\d+)`, 'm').exec(text.split('\n').slice(-40).join('\n'))?.[1] ?? NaN);
      resolve({ i, code, signal, pass: n('pass'), fail: n('fail'), tests: n('tests'), log, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

const results = await Promise.all(Array.from({ length: copies }, (_, i) => runSuite(i + 1)));
for (const l of loops) l.kill('SIGKILL');
await new Promise((r) => setTimeout(r, 1000)); // let the killed loops be reaped before the after-snapshot

const after = snapshot();
const ignored = (pid, cmd) => pid === process.pid || cmd.includes('/proc') || loops.some((l) => l.pid === pid);
const newProcesses = [...after.processes].filter(([pid, cmd]) => !before.processes.has(pid) && !ignored(pid, cmd));
// Our own logs are the only temp entries we mean to leave.
const newTemp = [...after.temp].filter((p) => !before.temp.has(p) && !p.includes(`suite-under-load-${process.pid}-`));
const newMounts = [...after.mounts].filter((m) => !before.mounts.has(m));

let ok = true;
for (const r of results) {
  const passed = r.code === 0 && r.fail === 0 && r.pass > 0;
  ok &&= passed;
  console.log(`${stamp()} suite copy ${r.i}: ${passed ? 'PASS' : 'FAIL'}: ${r.pass} passed, ${r.fail} failed of ${r.tests}, exit ${r.code ?? r.signal}, ended at ${r.seconds.toFixed(0)} s (log ${r.log})`);
}
console.log(`load at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`processes left behind: ${newProcesses.length}${newProcesses.map(([p, c]) => `\n  ${p} ${c.slice(0, 160)}`).join('')}`);
console.log(`temp entries left behind (${tmpdir()}, /dev/shm): ${newTemp.length}${newTemp.map((p) => `\n  ${p}`).join('')}`);
console.log(`mounts left behind: ${newMounts.length}${newMounts.map((m) => `\n  ${m}`).join('')}`);
console.log(`processes on the machine before / after: ${before.processes.size} / ${after.processes.size}`);
ok &&= newProcesses.length === 0 && newTemp.length === 0 && newMounts.length === 0;
console.log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
