// Runs every test file under test/ with Node's runner. Node 20 expands no globs and
// finds no .ts files in a folder, and a run of zero tests passes silently, so we
// collect the files ourselves and refuse to run none.
//
// Each file runs in its own process group under a deadline, two at a time. When a file ends, or
// misses its deadline (SIGTERM to the group, then SIGKILL), whatever is left of its group is
// killed, so nothing it started can outlive it or hold our output open: a torn-read reader
// orphaned by a timed-out file once kept `npm test` hanging 6 minutes after its summary. A file
// that misses its deadline is reported FAILED with the names of its tests that did not run (they
// used to vanish from the counts). The closing lines are node's TAP summary (`# pass N`,
// `# fail N`), summed over the files.
//
// Deadlines scale with the machine: TEST_SLOWDOWN (from the environment, or measured here from
// the load per core as each file starts, and passed on to that file, where test/support/tmp.ts's
// waitFor uses it).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const testDir = join(root, 'test');

function collect(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return d.name === 'support' || d.name === 'fixtures' ? [] : collect(p);
    return d.name.endsWith('.test.ts') ? [p] : [];
  });
}

// Arguments: parts of paths under test/, or (for the runner's own test) paths of test files.
const args = process.argv.slice(2);
const given = args.filter((a) => a.endsWith('.test.ts') && existsSync(a));
const filter = args.filter((a) => !given.includes(a));
let files = given.length > 0 && filter.length === 0 ? given : collect(testDir).sort();
if (filter.length > 0) files = files.filter((f) => filter.some((s) => relative(root, f).includes(s)));
if (files.length === 0) {
  console.error(`test/run.mjs: no test files found${filter.length ? ` matching ${filter.join(' ')}` : ''}`);
  process.exit(1);
}

const concurrency = Math.max(1, Number(process.env.TEST_CONCURRENCY) || 2);
const cores = Math.max(1, availableParallelism());
const envSlowdown = Number(process.env.TEST_SLOWDOWN);
/**
 * How much slower than a quiet machine this one is, measured as each file starts (load builds up
 * while we run: the 1-minute load at our own start said 1.7 on a machine then pinned at 20):
 * the load per core plus the load we add ourselves, at least 1 and at most 8; TEST_SLOWDOWN fixes it.
 */
function slowdownNow() {
  if (Number.isFinite(envSlowdown) && envSlowdown >= 1) return envSlowdown;
  return Math.min(8, Math.max(1, Math.ceil(((loadavg()[0] + concurrency) / cores) * 2) / 2));
}
const deadlineFor = (slowdown) => Number(process.env.TEST_FILE_DEADLINE_MS) || Math.round(180_000 * slowdown);
const graceMs = 10_000;

console.log('TAP version 13');
console.log(`# running ${files.length} test files, ${concurrency} at a time; each has 180 s times the slowdown measured as it starts`);

const SUMMARY = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) (\d+(?:\.\d+)?)$/;
const totals = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const failedFiles = [];
const started = Date.now();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** Test names written literally in a file: `test('…'`, `it('…'`. */
function declaredTests(file) {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/(?:^|[\s;(])(?:test|it)\(\s*(['"`])((?:\\.|(?!\1).)*?)\1/gm)].map((m) => m[2]).filter((n) => !n.includes('${'));
}

// NODE_TEST_CONTEXT would make each file's runner talk to a parent runner instead of printing TAP
// (it is set when this script itself runs under node --test, as in its own test).
const { NODE_TEST_CONTEXT: _parent, ...inherited } = process.env;

// Files running now, by pid (each the leader of its group), so that a runner told to stop takes
// them with it instead of leaving their groups running on.
const running = new Set();
for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]]) {
  process.once(signal, () => {
    for (const pid of running) killGroup(pid, 'SIGTERM');
    setTimeout(() => {
      for (const pid of running) killGroup(pid, 'SIGKILL');
      process.exit(code);
    }, 3000);
  });
}

function runFile(file) {
  const rel = relative(root, file);
  const slowdown = slowdownNow();
  const fileDeadlineMs = deadlineFor(slowdown);
  // The file's waitFor deadlines use the same factor as its deadline here.
  const fileEnv = { ...inherited, TEST_SLOWDOWN: String(slowdown) };
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-force-exit', `--test-timeout=${fileDeadlineMs}`, file],
      // detached: its own process group, so every process it starts that stays in the group goes
      // with it. Pipes, not inherited stdio: an orphan can never hold our stdout or stderr open.
      { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: fileEnv },
    );
    running.add(child.pid);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let timedOut = false;
    let killTimer;
    const deadline = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGTERM'); // test/support/children.ts kills each file's children on SIGTERM
      killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), graceMs);
    }, fileDeadlineMs);
    child.once('exit', (code, signal) => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      killGroup(child.pid, 'SIGKILL'); // anything of its group still running
      running.delete(child.pid);
      // Let the pipes drain what was written before the exit, then stop reading whatever holds them.
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve(report(rel, file, out, { code, signal, timedOut, seconds: (Date.now() - t0) / 1000, slowdown }));
      }, 200);
    });
  });
}

function report(rel, file, out, { code, signal, timedOut, seconds, slowdown }) {
  const counts = {};
  const body = [];
  for (const line of out.split('\n')) {
    const m = SUMMARY.exec(line);
    if (m) counts[m[1]] = Number(m[2]);
    else if (line !== 'TAP version 13' && line !== '') body.push(line);
  }
  const problems = [];
  if (counts.pass === undefined) {
    // No summary: the file was stopped. Count what did report, and each test that never ran as failed.
    counts.pass = body.filter((l) => /^ok \d+ /.test(l)).length;
    counts.fail = body.filter((l) => /^not ok \d+ /.test(l)).length;
    const notRun = declaredTests(file).filter((name) => !out.includes(` - ${name}`));
    counts.fail += notRun.length + (notRun.length === 0 && counts.fail === 0 ? 1 : 0);
    counts.tests = counts.pass + counts.fail;
    problems.push(
      timedOut ? `timed out after ${Math.round(seconds)} s` : `ended without a summary (${signal ?? `exit code ${code}`})`,
      ...notRun.map((n) => `did not run: ${n}`),
    );
  } else if (timedOut) {
    problems.push(`timed out after ${Math.round(seconds)} s, after its summary`);
    counts.fail = (counts.fail ?? 0) + 1;
  } else if (code !== 0 && !counts.fail) {
    problems.push(`exit code ${code ?? signal} although no test failed`);
    counts.fail = 1;
  }
  for (const k of Object.keys(totals)) totals[k] += counts[k] ?? 0;
  console.log(`# ---- ${rel} (${seconds.toFixed(1)} s, slowdown ${slowdown})`);
  console.log(body.join('\n'));
  const status = problems.length > 0 || counts.fail > 0 ? 'FAILED' : 'passed';
  console.log(`# ---- ${rel}: ${status}, pass ${counts.pass} fail ${counts.fail}${problems.map((p) => `\n# ${p}`).join('')}`);
  if (status === 'FAILED') failedFiles.push({ rel, problems, fail: counts.fail });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.min(concurrency, files.length) }, async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) await runFile(f);
  }),
);

for (const f of failedFiles) console.log(`# FAILED ${f.rel}: ${f.fail} failed${f.problems.length ? `; ${f.problems.join('; ')}` : ''}`);
for (const [k, v] of Object.entries(totals)) console.log(`# ${k} ${v}`);
console.log(`# duration_ms ${Date.now() - started}`);
// Exit now, whatever might still be holding a handle: every file's group has been killed.
process.exit(totals.fail > 0 || failedFiles.length > 0 ? 1 : 0);
