// Runs every test file under test/ with Node's runner. Node 20 expands no globs and
// finds no .ts files in a folder, and a run of zero tests passes silently, so we
// collect the files ourselves and refuse to run none.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
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

const filter = process.argv.slice(2);
let files = collect(testDir).sort();
if (filter.length > 0) files = files.filter((f) => filter.some((s) => relative(root, f).includes(s)));
if (files.length === 0) {
  console.error(`test/run.mjs: no test files found${filter.length ? ` matching ${filter.join(' ')}` : ''}`);
  process.exit(1);
}
console.log(`running ${files.length} test files`);
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);
