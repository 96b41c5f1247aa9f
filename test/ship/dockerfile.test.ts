// The image's rules, checked on the Dockerfile itself: no Docker engine runs in CI, so these are
// what stands between a careless edit and an image that runs as root, ships tests or lacks git.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { validate } from 'dockerfile-utils';
import { loadConfig } from '../../src/supervisor/config.js';
import { dockerignoreExcludes, execForm, parseCopy, parseDockerfile, parseEnv, runCommands, type Stage } from '../support/dockerfile.js';

const root = new URL('../../', import.meta.url);
const dockerfileText = readFileSync(new URL('Dockerfile', root), 'utf8');
const dockerignore = readFileSync(new URL('.dockerignore', root), 'utf8');
const stages = parseDockerfile(dockerfileText);
const runtime = stages.at(-1)!;

const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const commandsOf = (stage: Stage) => of(stage, 'RUN').flatMap(runCommands);
const npmCi = (stage: Stage) => commandsOf(stage).filter((c) => c[0] === 'npm' && c[1] === 'ci');

test('dockerfile-utils finds no problem in the Dockerfile', () => {
  const findings = validate(dockerfileText).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
  assert.deepEqual(findings, []);
});

test('the image is multi-stage: a build stage compiles with dev dependencies, the runtime stage ships the result', () => {
  assert.ok(stages.length >= 2, 'at least a build stage and a runtime stage');
  const build = stages.find((s) => commandsOf(s).some((c) => c.join(' ') === 'npm run build'));
  assert.ok(build !== undefined && build !== runtime, 'an earlier stage runs npm run build');
  assert.ok(build.name !== undefined, 'the build stage is named, for COPY --from');
  assert.ok(npmCi(build).some((c) => !c.includes('--omit=dev')), 'the build stage installs dev dependencies (the compiler)');
  const fromBuild = of(runtime, 'COPY').map(parseCopy).filter((c) => c.flags.from === build.name);
  assert.ok(fromBuild.some((c) => c.sources.some((s) => /\/dist\/?$/.test(s))), 'the runtime stage copies dist/ from the build stage');
});

test('every stage is on the slim Node 20 image (bookworm, as our tests run on)', () => {
  for (const s of stages) assert.match(s.image, /^node:20(\.\d+){0,2}-bookworm-slim(@sha256:[0-9a-f]{64})?$/, `FROM ${s.image}`);
});

test('the runtime stage installs production dependencies only, from the lock file', () => {
  const installs = commandsOf(runtime).filter((c) => c[0] === 'npm' && ['ci', 'install', 'i'].includes(c[1] ?? ''));
  assert.equal(installs.length, 1, 'one npm install in the runtime stage');
  assert.deepEqual(installs[0]!.slice(0, 2), ['npm', 'ci'], 'npm ci: exactly the lock file');
  assert.ok(installs[0]!.includes('--omit=dev'), 'npm ci --omit=dev');
});

test('git, the ssh client, tini and CA certificates come from apt, without recommends and without the package lists', () => {
  const aptRun = of(runtime, 'RUN').find((r) => r.args.includes('apt-get install'));
  assert.ok(aptRun !== undefined, 'an apt-get install in the runtime stage');
  const install = runCommands(aptRun).find((c) => c[0] === 'apt-get' && c[1] === 'install')!;
  assert.ok(install.includes('--no-install-recommends'));
  for (const pkg of ['git', 'openssh-client', 'tini', 'ca-certificates', 'libnss-wrapper']) assert.ok(install.includes(pkg), `installs ${pkg}`);
  assert.ok(runCommands(aptRun).some((c) => c.join(' ') === 'rm -rf /var/lib/apt/lists/*'), 'the package lists are removed in the same layer');
});

test('the image runs as a non-root numeric user, with a HOME that an arbitrary UID (group 0) can write', () => {
  const users = of(runtime, 'USER');
  assert.ok(users.length > 0, 'a USER instruction');
  const user = users.at(-1)!.args.trim();
  // Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  assert.ok(m, `USER ${user} is numeric (uid or uid:gid)`);
  assert.notEqual(Number(m[1]), 0, 'not root');
  const env = Object.assign({}, ...of(runtime, 'ENV').map(parseEnv)) as Record<string, string>;
  assert.ok(env.HOME, 'HOME is set');
  assert.ok(
    commandsOf(runtime).some((c) => c.join(' ') === `chmod g=u ${env.HOME}`),
    `chmod g=u ${env.HOME}: group 0 gets the owner's rights on HOME`,
  );
  assert.ok(commandsOf(runtime).some((c) => c.join(' ') === `chgrp 0 ${env.HOME}`), `HOME belongs to group 0`);
});

test('tini is PID 1 and runs the daemon in exec form, so SIGTERM reaches the supervisor', () => {
  const entrypoints = of(runtime, 'ENTRYPOINT');
  assert.equal(entrypoints.length, 1);
  assert.deepEqual(execForm(entrypoints[0]!), ['tini', '--', 'node', '/app/dist/cli.js']);
  assert.equal(of(runtime, 'CMD').length, 0, 'no CMD: arguments given to the container are flags of the daemon');
});

test('the exposed port is the daemon default HTTP_BIND port', () => {
  const { port } = loadConfig({ LISTING_PATH: '/listing.json' }).http;
  assert.deepEqual(of(runtime, 'EXPOSE').map((e) => e.args.trim()), [String(port)]);
});

test('COPY names its sources: never the whole context, tests, bench, secrets, .git or node_modules', () => {
  const forbidden = /(^|\/)(test|bench|example|node_modules|\.git|\.ci|secrets?)(\/|$)|\.pem$|\.key$|(^|\/)id_[a-z0-9]+|(^|\/)\.env|(^|\/)\.npmrc$/;
  for (const stage of stages) {
    for (const ins of [...of(stage, 'COPY'), ...of(stage, 'ADD')]) {
      assert.equal(ins.keyword, 'COPY', `line ${ins.line}: ADD fetches and unpacks; use COPY`);
      const copy = parseCopy(ins);
      if (copy.flags.from !== undefined) {
        const earlier = stages.slice(0, stages.indexOf(stage)).map((s) => s.name);
        assert.ok(earlier.includes(copy.flags.from), `line ${ins.line}: --from=${copy.flags.from} is an earlier stage`);
        continue;
      }
      for (const src of copy.sources) {
        assert.ok(!['.', './', '*'].includes(src), `line ${ins.line}: COPY ${src} copies the whole context`);
        assert.doesNotMatch(src, forbidden, `line ${ins.line}: COPY ${src}`);
        assert.ok(!dockerignoreExcludes(dockerignore, src.replace(/^\.\//, '').replace(/\/$/, '')), `line ${ins.line}: ${src} is left out by .dockerignore`);
      }
    }
  }
});

test('.dockerignore keeps tests, bench, examples, .git, node_modules, a local dist and secrets out of the build context', () => {
  const out = [
    'test/e2e/daemon.test.ts',
    'test/support/sshd.ts',
    'bench/agent.ts',
    'example/listing.json',
    '.git/config',
    '.ci/run',
    '.github/workflows/ci.yml',
    'node_modules/zod/package.json',
    'dist/cli.js',
    'docs/security.md',
    'README.md',
    '.env',
    'id_ed25519',
    'secrets/token',
    'src/key.pem',
    'src/.env.local',
    'libexec/id_rsa',
  ];
  for (const p of out) assert.ok(dockerignoreExcludes(dockerignore, p), `${p} is excluded`);
  const kept = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/cli.ts', 'src/repo-agent/git.ts', 'libexec/git-with-deadline', 'libexec/git-credential-autosync', 'libexec/git-credential-autosync-none', 'schema/listing.schema.json'];
  for (const p of kept) assert.ok(!dockerignoreExcludes(dockerignore, p), `${p} is in the context`);
});

test('the .dockerignore matcher follows Docker: parent folders, ** and the last matching rule', () => {
  const rules = '*\n!src/\nsrc/**/*.pem\n';
  assert.equal(dockerignoreExcludes(rules, 'src/a/b.ts'), false);
  assert.equal(dockerignoreExcludes(rules, 'src/a/b.pem'), true);
  assert.equal(dockerignoreExcludes(rules, 'src/b.pem'), true);
  assert.equal(dockerignoreExcludes(rules, 'other/b.ts'), true);
  assert.equal(dockerignoreExcludes('node_modules\n', 'node_modules/x/y.js'), true);
  assert.equal(dockerignoreExcludes('node_modules\n', 'src/node_modules'), false);
});
