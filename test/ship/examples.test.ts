// The shipped examples, checked against the code they configure: every variable is one the daemon
// reads, every listing passes the daemon's own validator, every probe path is a route the real
// HTTP server answers on the port the daemon binds, mounts hold the listing, the published paths
// and the credential files, and the pipeline files run what they claim to.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join, posix } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, listingEntrySchema, listingJsonSchema, type AgentDefaults } from '../../src/shared/listing-schema.js';
import { loadConfig, type SupervisorConfig } from '../../src/supervisor/config.js';
import { createOperationsServer } from '../../src/supervisor/http.js';
import { validateListing, type DesiredEntry } from '../../src/supervisor/listing.js';
import { initialStatus, type RepoStatus } from '../../src/supervisor/status.js';
import type { Triggers } from '../../src/supervisor/triggers.js';
import type { PublishEvents } from '../../src/supervisor/events.js';
import {
  arr,
  composeEnv,
  composeVolume,
  cores,
  dataOf,
  filesUnder,
  isObj,
  mebibytes,
  obj,
  podOf,
  readYaml,
  sourceOfFile,
  str,
  type Obj,
  type Pod,
} from '../support/manifests.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string };

const yamlFiles = [...filesUnder(root, 'example', ['.yml', '.yaml']), ...filesUnder(root, '.github', ['.yml', '.yaml'])];
const jsonFiles = [...filesUnder(root, 'example', ['.json']), ...filesUnder(root, '.github', ['.json'])];
// Kubernetes reads YAML 1.1 (`0440` is octal); compose and GitHub read 1.2.
const yamlVersion = (f: string) => (f.startsWith('example/kubernetes/') ? '1.1' : '1.2');
const parsed = yamlFiles.map((f) => readYaml(root, f, yamlVersion(f)));
const kubeDocs = parsed.filter((y) => y.file.startsWith('example/kubernetes/')).flatMap((y) => y.docs.filter(isObj));
const byKind = (kind: string, name: string) => kubeDocs.find((d) => d.kind === kind && obj(d.metadata).name === name);

// The daemon's variables: the README's table, each of which the code must read.
const readme = read('README.md');
const envSection = readme.slice(readme.indexOf('### Environment'), readme.indexOf('### Listing'));
const KNOWN_ENV = new Set([...envSection.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!));
const SECRET_FIELDS = ['sshKeyFile', 'knownHostsFile', 'usernameFile', 'passwordFile'] as const;

// The real operations server, answering for the entries of whichever listing is checked.
let server: Server;
let statuses: RepoStatus[] = [];
let base = '';
const silent = { error() {}, warn() {}, info() {}, debug() {} };
before(async () => {
  server = createOperationsServer(
    {
      statuses: () => statuses,
      listingLoadedAt: () => '2026-01-01T00:00:00.000Z',
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      triggers: {} as Triggers, events: {} as PublishEvents,
    },
    silent,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(isObj(address));
  base = `http://127.0.0.1:${String(address.port)}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Whether the daemon serves GET `path` (any answer but 404 or 405) for these entries. */
async function serves(path: string, entries: DesiredEntry[]): Promise<boolean> {
  statuses = entries.map((e) => initialStatus(e.entry));
  const res = await fetch(`${base}${path}`);
  await res.arrayBuffer();
  return res.status !== 404 && res.status !== 405;
}

function checkListing(data: unknown, defaults: AgentDefaults, where: string): DesiredEntry[] {
  const listing = validateListing(data, defaults, where);
  assert.deepEqual(listing.errors.map((e) => e.message), [], `${where}: every entry is valid`);
  assert.equal(listing.entries.length, (data as unknown[]).length, `${where}: every entry is kept`);
  return listing.entries;
}

function configOf(env: Record<string, string>, where: string): SupervisorConfig {
  for (const name of Object.keys(env)) assert.ok(KNOWN_ENV.has(name), `${where}: ${name} is not a variable git-autosync reads (README's Environment table)`);
  try {
    return loadConfig(env);
  } catch (err) {
    assert.fail(`${where}: the daemon refuses this environment: ${(err as Error).message}`);
  }
}

const isOurImage = (image: unknown) => /(^|\/)git-autosync(:|@|$)/.test(String(image));

test('every YAML and JSON file under example/ and .github/ parses', () => {
  assert.ok(yamlFiles.length >= 8 && jsonFiles.length >= 2, `found ${yamlFiles.length} YAML and ${jsonFiles.length} JSON files`);
  assert.deepEqual(parsed.flatMap((y) => y.errors), []);
  for (const y of parsed) assert.ok(y.docs.length > 0, `${y.file} is not empty`);
  for (const f of jsonFiles) assert.doesNotThrow(() => JSON.parse(read(f)), f);
});

test('the README lists only variables the code reads', () => {
  assert.ok(KNOWN_ENV.size >= 10, `README's Environment table has ${KNOWN_ENV.size} variables`);
  const source = filesUnder(root, 'src', ['.ts']).map(read).join('\n');
  for (const name of KNOWN_ENV) assert.match(source, new RegExp(`['.]${name}\\b`), `${name} is read in src/`);
});

test('example/listing.json is in the original format, and every example listing passes the validator', () => {
  const original = JSON.parse(read('example/listing.json')) as Obj[];
  for (const e of original) assert.deepEqual(Object.keys(e).sort(), ['branch', 'path', 'repo'], 'only the fields the original knew');
  const listings = jsonFiles.filter((f) => posix.basename(f).startsWith('listing'));
  assert.ok(listings.length >= 2);
  for (const f of listings) checkListing(JSON.parse(read(f)), DEFAULTS, f);
});

test('example/listing-all-fields.json uses every field of the schema, nested ones too, with secrets under /etc/git-autosync', () => {
  const entries = JSON.parse(read('example/listing-all-fields.json')) as Obj[];
  const used = new Set(entries.flatMap((e) => Object.entries(e).flatMap(([k, v]) => [k, ...(isObj(v) ? Object.keys(v).map((n) => `${k}.${n}`) : [])])));
  const schema = obj(obj(listingJsonSchema().items).properties);
  const fields = Object.keys(listingEntrySchema.shape).flatMap((k) => [k, ...Object.keys(obj(obj(schema[k]).properties)).map((n) => `${k}.${n}`)]);
  assert.deepEqual(fields.filter((f) => !used.has(f)), [], 'fields missing from the example');
  for (const e of entries) for (const f of SECRET_FIELDS) if (e[f] !== undefined) assert.match(String(e[f]), /^\/etc\/git-autosync\//, `${f}`);
});

test('every image reference to git-autosync uses the version in package.json', () => {
  const refs = [
    ...kubeDocs.flatMap((d) => podOf(d)?.containers().map((c) => c.container.image) ?? []),
    ...parsed.filter((y) => y.file.endsWith('docker-compose.yml')).flatMap((y) => Object.values(obj(obj(y.docs[0]).services)).map((s) => obj(s).image)),
  ].filter(isOurImage);
  assert.ok(refs.length > 0);
  for (const r of refs) assert.equal(String(r).split(':').at(-1), pkg.version, `${String(r)}`);
});

// Kubernetes ---------------------------------------------------------------------------------

const pods = kubeDocs.map(podOf).filter((p): p is Pod => p !== undefined);

/** Our daemon's containers (the image, running its ENTRYPOINT), with their config and listing. */
function daemons() {
  return pods.flatMap((pod) =>
    pod
      .containers()
      .filter(({ container }) => isOurImage(container.image) && container.command === undefined)
      .map(({ container, init }) => {
        const where = `${pod.name} container ${String(container.name)}`;
        for (const e of arr(container.env)) assert.ok(e.value !== undefined, `${where}: ${String(e.name)} has a plain value`);
        const env = Object.fromEntries(arr(container.env).map((e) => [String(e.name), String(e.value)]));
        const config = configOf(env, where);
        return { pod, container, init, where, config };
      }),
  );
}

test('the Kubernetes examples cover the three scenarios, with a Service and a ServiceMonitor', () => {
  const kinds = new Set(kubeDocs.map((d) => d.kind));
  for (const k of ['ConfigMap', 'Secret', 'Deployment', 'DaemonSet', 'PersistentVolumeClaim', 'Service', 'ServiceMonitor']) assert.ok(kinds.has(k), `a ${k}`);
  const ds = daemons();
  assert.ok(ds.some((d) => d.init && d.config.oneTime), 'an init container in ONE_TIME mode (the sidecar scenario)');
  assert.ok(ds.some((d) => d.pod.workload.kind === 'DaemonSet' && d.pod.spec.volumes !== undefined && arr(d.pod.spec.volumes).some((v) => isObj(v.hostPath))), 'a DaemonSet on hostPath');
  assert.ok(ds.some((d) => arr(d.pod.spec.volumes).some((v) => isObj(v.persistentVolumeClaim))), 'a daemon on a PersistentVolumeClaim');
  const sm = kubeDocs.find((d) => d.kind === 'ServiceMonitor')!;
  assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
});

test('each daemon container reads a valid listing from a ConfigMap mounted as a folder', () => {
  for (const { pod, container, where, config } of daemons()) {
    const r = pod.resolve(container, config.listingPath);
    assert.ok(r !== undefined, `${where}: LISTING_PATH ${config.listingPath} is mounted`);
    assert.equal(r.mount.subPath, undefined, `${where}: the listing is not a subPath mount (it would never update)`);
    // The daemon watches the listing's folder; the kubelet swaps `..data` at the volume's root.
    assert.equal(r.mount.mountPath, dirname(config.listingPath), `${where}: the listing's folder is the mount point, so the ..data swap is seen`);
    const src = sourceOfFile(r.volume, r.rest);
    assert.ok(src?.kind === 'configMap', `${where}: ${config.listingPath} comes from a ConfigMap`);
    const cm = byKind('ConfigMap', src.name);
    assert.ok(cm !== undefined, `${where}: ConfigMap ${src.name} is in example/kubernetes/`);
    const text = dataOf(cm)[src.key];
    assert.ok(text !== undefined, `ConfigMap ${src.name} has the key ${src.key}`);
    checkListing(JSON.parse(text), config.defaults, `ConfigMap ${src.name} key ${src.key} (as ${where} reads it)`);
  }
});

function listingOf(d: ReturnType<typeof daemons>[number]): DesiredEntry[] {
  const r = d.pod.resolve(d.container, d.config.listingPath)!;
  const src = sourceOfFile(r.volume, r.rest)!;
  return validateListing(JSON.parse(dataOf(byKind('ConfigMap', src.name)!)[src.key]!), d.config.defaults).entries;
}

const WRITABLE = ['emptyDir', 'hostPath', 'persistentVolumeClaim'];

test('every published path (and its state folder beside it) lies on a writable shared volume, the same one in the init container', () => {
  for (const d of daemons()) {
    for (const { entry } of listingOf(d)) {
      // Symlink mode writes `path` and `.<name>.git-autosync/` in the parent folder; in-place mode writes inside `path`.
      const target = entry.publish === 'symlink' ? dirname(entry.path) : entry.path;
      const r = d.pod.resolve(d.container, target);
      assert.ok(r !== undefined, `${d.where}: ${target} (for ${entry.name}) is on a volume`);
      assert.ok(WRITABLE.some((k) => isObj(r.volume[k])), `${d.where}: ${target} is on an emptyDir, hostPath or PVC, not ${Object.keys(r.volume).join('/')}`);
      assert.notEqual(r.mount.readOnly, true, `${d.where}: ${target} is writable`);
      assert.equal(r.mount.subPath, undefined, `${d.where}: no subPath`);
      if (entry.hooks.touchFile !== undefined) assert.notEqual(d.pod.resolve(d.container, entry.hooks.touchFile)?.mount.readOnly ?? true, true, `${d.where}: touchFile is writable`);
      for (const other of daemons().filter((o) => o.pod === d.pod && o !== d)) {
        assert.equal(other.pod.resolve(other.container, target)?.mount.name, r.mount.name, `${other.where} publishes ${target} on the same volume as ${d.where}`);
      }
    }
  }
});

test('credential files named by the listings and by *_FILE variables are mounted from Secrets that have those keys', () => {
  for (const d of daemons()) {
    const files: Array<[what: string, file: string]> = listingOf(d).flatMap(({ entry, raw }) =>
      SECRET_FIELDS.flatMap((f): Array<[string, string]> => (isObj(raw) && typeof raw[f] === 'string' ? [[`${entry.name}.${f}`, raw[f]]] : [])),
    );
    if (d.config.webhookSecretFile !== undefined) files.push(['WEBHOOK_SECRET_FILE', d.config.webhookSecretFile]);
    if (d.config.syncTokenFile !== undefined) files.push(['SYNC_TOKEN_FILE', d.config.syncTokenFile]);
    for (const [what, file] of files) {
      const r = d.pod.resolve(d.container, file);
      assert.ok(r !== undefined, `${d.where}: ${what} ${file} is mounted`);
      const src = sourceOfFile(r.volume, r.rest);
      assert.equal(src?.kind, 'secret', `${d.where}: ${what} ${file} comes from a Secret`);
      const secret = byKind('Secret', src!.name);
      assert.ok(secret !== undefined, `Secret ${src!.name} is in example/kubernetes/`);
      assert.ok(src!.key in dataOf(secret), `Secret ${src!.name} has the key ${src!.key}`);
      // 0440 with fsGroup: readable by the daemon's group, never by others. (Kubernetes' YAML 1.1
      // reads 0440 as octal; a decimal 440 would be 0670.)
      const mode = obj(r.volume.projected).defaultMode ?? obj(r.volume.secret).defaultMode;
      if (mode !== undefined) assert.equal(Number(mode) & 0o027, 0, `${d.where}: ${file} is read-only and not readable by others (defaultMode ${Number(mode).toString(8)})`);
    }
  }
});

test('ports and probes point at routes the daemon serves, on the port it binds', async () => {
  for (const d of daemons()) {
    const { container, config, where } = d;
    if (d.config.oneTime) {
      assert.ok(d.init, `${where}: ONE_TIME exits after one sync, so it belongs in an init container`);
      continue;
    }
    assert.ok(!d.init, `${where}: a long-running daemon is not an init container`);
    const ports = arr(container.ports);
    assert.ok(ports.some((p) => p.containerPort === config.http.port), `${where}: containerPort ${config.http.port} (HTTP_BIND)`);
    const portOf = (p: unknown) => (typeof p === 'number' ? p : ports.find((x) => x.name === p)?.containerPort);
    for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const probe = obj(container[kind]);
      if (Object.keys(probe).length === 0) continue;
      const get = obj(probe.httpGet);
      assert.equal(portOf(get.port), config.http.port, `${where}: ${kind} port`);
      assert.ok(await serves(String(get.path), listingOf(d)), `${where}: ${kind} path ${String(get.path)} is a route`);
    }
    assert.match(String(obj(obj(container.readinessProbe).httpGet).path), /^\/readyz(\/|$)/, `${where}: readiness on /readyz`);
    assert.equal(obj(obj(container.livenessProbe).httpGet).path, '/healthz', `${where}: liveness on /healthz (never on remotes)`);
  }
});

test('the Service reaches the daemon port, and the ServiceMonitor scrapes /metrics through it', async () => {
  const services = kubeDocs.filter((d) => d.kind === 'Service');
  for (const svc of services) {
    const selector = obj(obj(svc.spec).selector);
    const selected = daemons().filter((d) => !d.init && Object.entries(selector).every(([k, v]) => d.pod.labels[k] === v));
    assert.ok(selected.length > 0, `Service ${String(obj(svc.metadata).name)} selects daemon pods`);
    for (const p of arr(obj(svc.spec).ports)) {
      for (const d of selected) {
        const target = typeof p.targetPort === 'number' ? p.targetPort : arr(d.container.ports).find((x) => x.name === p.targetPort)?.containerPort;
        assert.equal(target, d.config.http.port, `Service port ${String(p.name)} → ${d.where}`);
      }
    }
  }
  for (const sm of kubeDocs.filter((d) => d.kind === 'ServiceMonitor')) {
    const match = obj(obj(obj(sm.spec).selector).matchLabels);
    const svc = services.find((s) => Object.entries(match).every(([k, v]) => obj(obj(s.metadata).labels)[k] === v));
    assert.ok(svc !== undefined, 'the ServiceMonitor selects a Service by its labels');
    for (const ep of arr(obj(sm.spec).endpoints)) {
      assert.ok(arr(obj(svc.spec).ports).some((p) => p.name === ep.port), `endpoint port ${String(ep.port)} is a Service port name`);
      assert.equal(ep.path, '/metrics');
      assert.ok(await serves('/metrics', []));
    }
  }
});

test('readers mount the published volume whole and read-only, never through a subPath that would pin one commit', () => {
  const published = new Set<string>();
  for (const d of daemons()) {
    for (const { entry } of listingOf(d)) {
      const r = d.pod.resolve(d.container, dirname(entry.path));
      const id = r && d.pod.storageOf(r.volume);
      if (id !== undefined) published.add(id);
    }
  }
  let readers = 0;
  for (const pod of pods) {
    for (const { container } of pod.containers()) {
      if (isOurImage(container.image)) continue;
      for (const m of arr(container.volumeMounts)) {
        const v = pod.volume(m.name);
        const id = v && pod.storageOf(v);
        if (id === undefined || !published.has(id)) continue;
        readers++;
        const where = `${pod.name} container ${String(container.name)}`;
        assert.equal(m.subPath, undefined, `${where}: no subPath on the published volume`);
        assert.equal(m.readOnly, true, `${where}: mounts the published volume read-only`);
      }
    }
  }
  assert.ok(readers >= 2, 'the examples show how readers mount the volume');
});

test('our containers are locked down: non-root, read-only root filesystem with a /tmp, no privilege escalation, no capabilities', () => {
  for (const pod of pods) {
    const podSc = obj(pod.spec.securityContext);
    for (const { container } of pod.containers()) {
      if (!isOurImage(container.image)) continue;
      const where = `${pod.name} container ${String(container.name)}`;
      const sc = obj(container.securityContext);
      assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation: false`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem: true`);
      assert.ok((obj(sc.capabilities).drop as unknown[] | undefined)?.includes('ALL'), `${where}: capabilities drop ALL`);
      if (container.command !== undefined) continue; // the DaemonSet's chown step, documented there
      assert.equal(sc.runAsNonRoot ?? podSc.runAsNonRoot, true, `${where}: runAsNonRoot`);
      assert.notEqual(sc.runAsUser ?? podSc.runAsUser, 0, `${where}: not UID 0`);
      assert.deepEqual(obj(sc.capabilities).add, undefined, `${where}: adds no capability`);
      const tmp = pod.resolve(container, '/tmp');
      assert.ok(tmp?.mount.mountPath === '/tmp' && isObj(tmp.volume.emptyDir), `${where}: an emptyDir at /tmp`);
    }
    assert.equal(obj(podSc.seccompProfile).type, 'RuntimeDefault', `${pod.name}: seccomp RuntimeDefault`);
  }
});

test('resource requests cover the measured footprint: ~15 MiB for the supervisor and ~30 MiB per entry', () => {
  for (const d of daemons()) {
    const res = obj(d.container.resources);
    const requests = obj(res.requests);
    const limits = obj(res.limits);
    const need = 15 + 30 * listingOf(d).length;
    assert.ok(mebibytes(requests.memory) >= need, `${d.where}: memory request ${String(requests.memory)} ≥ ${need} MiB`);
    assert.ok(limits.memory !== undefined && mebibytes(limits.memory) >= 2 * need, `${d.where}: a memory limit with room for git during a sync`);
    assert.ok(cores(requests.cpu) > 0, `${d.where}: a CPU request`);
  }
});

// docker compose -----------------------------------------------------------------------------

test('docker-compose.yml: known variables, a valid listing, mounts for it and the repos, the port and a readiness healthcheck', async () => {
  const compose = parsed.find((y) => y.file === 'example/docker-compose.yml');
  assert.ok(compose !== undefined);
  const services = Object.entries(obj(obj(compose.docs[0]).services)).filter(([, s]) => isOurImage(obj(s).image) || obj(s).build !== undefined);
  assert.ok(services.length > 0);
  for (const [name, raw] of services) {
    const s = obj(raw);
    const where = `compose service ${name}`;
    assert.equal(obj(s.build).context, '..', `${where}: builds the repository's Dockerfile`);
    const config = configOf(composeEnv(s.environment), where);
    const volumes = ((s.volumes as unknown[] | undefined) ?? []).map(composeVolume);
    const mountOf = (path: string) =>
      volumes.filter((v) => path === v.target || path.startsWith(`${v.target}/`)).sort((a, b) => b.target.length - a.target.length)[0];
    const listingMount = mountOf(config.listingPath);
    assert.ok(listingMount !== undefined, `${where}: LISTING_PATH is mounted`);
    const hostListing = join(root, 'example', listingMount.source, posix.relative(listingMount.target, config.listingPath));
    const entries = checkListing(JSON.parse(readFileSync(hostListing, 'utf8')), config.defaults, `${where}: ${listingMount.source}`);
    for (const { entry } of entries) {
      const m = mountOf(dirname(entry.path));
      assert.ok(m !== undefined && !m.readOnly && m.target !== listingMount.target, `${where}: ${dirname(entry.path)} is a writable mount`);
    }
    const ports = (s.ports as unknown[]).map((p) => String(p).split(':').at(-1));
    assert.ok(ports.includes(String(config.http.port)), `${where}: publishes container port ${config.http.port}`);
    const check = (obj(s.healthcheck).test as string[]).join(' ');
    const url = /http:\/\/127\.0\.0\.1:(\d+)(\/[^'"\s)]*)/.exec(check);
    assert.ok(url, `${where}: the healthcheck requests the daemon`);
    assert.equal(Number(url[1]), config.http.port);
    assert.match(url[2]!, /^\/(readyz|healthz)/);
    assert.ok(await serves(url[2]!, entries), `${where}: ${url[2]} is a route`);
    if (s.read_only === true) assert.ok((s.tmpfs as string[]).includes('/tmp'), `${where}: a /tmp with a read-only root`);
  }
});

// GitHub -------------------------------------------------------------------------------------

test('the GitHub workflow lints, type-checks, tests, audits, builds the image and scans it with Trivy, with actions pinned to commits', () => {
  const wf = obj(parsed.find((y) => y.file === '.github/workflows/ci.yml')?.docs[0]);
  const jobs = Object.values(obj(wf.jobs)).map(obj);
  const steps = jobs.flatMap((j) => arr(j.steps));
  const runs = steps.map((s) => str(s.run) ?? '').join('\n');
  const uses = steps.map((s) => str(s.uses)).filter((u): u is string => u !== undefined);
  const ciRun = read('.ci/run');
  const covered = (cmd: string) => runs.includes(cmd) || (runs.includes('.ci/run') && ciRun.includes(cmd));
  for (const cmd of ['npm run lint', 'npm run lint:dockerfile', 'npm run typecheck', 'npm test']) assert.ok(covered(cmd), `the workflow runs ${cmd}`);
  assert.ok(runs.includes('npm audit --omit=dev --audit-level=high'), 'npm audit of production dependencies');
  const build = steps.find((s) => str(s.uses)?.startsWith('docker/build-push-action@'));
  assert.ok(build !== undefined || runs.includes('docker build'), 'an image build');
  const trivy = steps.find((s) => str(s.uses)?.startsWith('aquasecurity/trivy-action@'));
  assert.ok(trivy !== undefined, 'a Trivy scan');
  assert.equal(obj(trivy.with)['image-ref'], obj(build?.with).tags, 'Trivy scans the image just built');
  assert.equal(String(obj(trivy.with)['exit-code']), '1', 'findings fail the job');
  for (const u of uses) assert.match(u, /@[0-9a-f]{40}$/, `${u} is pinned to a commit`);
  for (const script of runs.matchAll(/\bbash (\.ci\/[\w.-]+)/g)) assert.doesNotThrow(() => read(script[1]!), `${script[1]} exists`);
});

test('Dependabot updates npm, the Dockerfile and the workflow actions', () => {
  const dependabot = obj(parsed.find((y) => y.file === '.github/dependabot.yml')?.docs[0]);
  assert.equal(dependabot.version, 2);
  const ecosystems = arr(dependabot.updates).map((u) => u['package-ecosystem']);
  for (const e of ['npm', 'docker', 'github-actions']) assert.ok(ecosystems.includes(e), `updates ${e}`);
});

test('hub and spokes: the spokes follow the hub Service, fetch only from its /git/{name}, for entries it serves, with the token it checks', () => {
  const ds = daemons();
  const hub = ds.find((d) => d.config.serveGit);
  assert.ok(hub !== undefined, 'a daemon with SERVE_GIT');
  assert.ok(hub.config.serveTokenFile !== undefined && hub.config.serveOpenBind === undefined, 'the hub serves with a token, not on an open bind');
  assert.ok(hub.config.webhookSecretFile !== undefined, 'the git host\'s webhook goes to the hub');
  const spokes = ds.filter((d) => d.config.follow !== undefined);
  assert.ok(spokes.some((d) => d.pod.workload.kind === 'DaemonSet'), 'the spokes are a DaemonSet');
  const served = new Set(listingOf(hub).filter(({ entry }) => entry.serve).map(({ entry }) => entry.name));
  const hubLabels = obj(obj(obj(hub.pod.workload.spec).template).metadata).labels;
  for (const spoke of spokes) {
    const events = spoke.config.follow!.url;
    const service = byKind('Service', events.hostname);
    assert.ok(service !== undefined, `${spoke.where}: FOLLOW_EVENTS names the Service ${events.hostname}`);
    const selector = obj(obj(service.spec).selector);
    for (const [k, v] of Object.entries(selector)) assert.equal(obj(hubLabels)[k], v, `${spoke.where}: the Service selects the hub (${k})`);
    const port = arr(obj(service.spec).ports).find((p) => String(p.port) === events.port);
    assert.ok(port !== undefined && arr(hub.container.ports).some((p) => p.name === port.targetPort || p.containerPort === port.targetPort), `${spoke.where}: the Service port reaches the hub's port`);
    assert.equal(hub.config.http.port, Number(arr(hub.container.ports).find((p) => p.name === 'http')?.containerPort), 'the hub listens on its port');
    assert.ok(spoke.config.follow!.tokenFile !== undefined, `${spoke.where}: FOLLOW_TOKEN_FILE set`);
    for (const { entry } of listingOf(spoke)) {
      assert.equal(entry.repo, `${events.origin}/git/${entry.name}`, `${spoke.where}: ${entry.name} fetches from the hub`);
      assert.ok(served.has(entry.name), `${spoke.where}: the hub serves ${entry.name}`);
      // The spoke's password and the hub's token are the same Secret key.
      const sourceKey = (d: ReturnType<typeof daemons>[number], file: string) => {
        const r = d.pod.resolve(d.container, file)!;
        return sourceOfFile(r.volume, r.rest);
      };
      assert.deepEqual(sourceKey(spoke, entry.credentials.passwordFile!), sourceKey(hub, hub.config.serveTokenFile!), `${spoke.where}: the password is the hub's token`);
      assert.deepEqual(sourceKey(spoke, spoke.config.follow!.tokenFile!), sourceKey(hub, hub.config.serveTokenFile!), `${spoke.where}: FOLLOW_TOKEN_FILE is the hub's token`);
    }
  }
});
