// Reading the shipped examples the way their consumers do: Kubernetes manifests (YAML 1.1, as the
// API server's parser reads `0440` as octal), pods' volumes and mounts resolved to what a path in
// a container really is, and docker compose services.

import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
export const obj = (v: unknown): Obj => (isObj(v) ? v : {});
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function filesUnder(root: string, dir: string, exts: string[]): string[] {
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((d) => {
    const rel = posix.join(dir, d.name);
    if (d.isDirectory()) return filesUnder(root, rel, exts);
    return exts.some((e) => d.name.endsWith(e)) ? [rel] : [];
  });
}

export interface YamlFile {
  file: string;
  docs: unknown[];
  errors: string[];
}

export function readYaml(root: string, file: string, version: '1.1' | '1.2'): YamlFile {
  const docs = parseAllDocuments(readFileSync(join(root, file), 'utf8'), { version, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  const errors = list.flatMap((d) => [...d.errors, ...d.warnings].map((e) => `${file}: ${e.message}`));
  return { file, docs: list.map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined), errors };
}

/** What a file path inside a container is: which mount, which volume, and the path within it. */
export interface Resolved {
  mount: Obj;
  volume: Obj;
  /** Path inside the volume ('' for the mount point itself). */
  rest: string;
}

export class Pod {
  constructor(
    readonly workload: Obj,
    readonly spec: Obj,
  ) {}

  get name(): string {
    return `${str(this.workload.kind)}/${str(obj(this.workload.metadata).name)}`;
  }

  get labels(): Obj {
    return obj(obj(obj(obj(this.workload.spec).template).metadata).labels);
  }

  containers(): Array<{ container: Obj; init: boolean }> {
    return [
      ...arr(this.spec.initContainers).map((container) => ({ container, init: true })),
      ...arr(this.spec.containers).map((container) => ({ container, init: false })),
    ];
  }

  volume(name: unknown): Obj | undefined {
    return arr(this.spec.volumes).find((v) => v.name === name);
  }

  /** The mount with the longest mountPath holding `path`. */
  resolve(container: Obj, path: string): Resolved | undefined {
    let best: Resolved | undefined;
    for (const mount of arr(container.volumeMounts)) {
      const at = str(mount.mountPath);
      if (at === undefined) continue;
      const inside = path === at || path.startsWith(`${at.replace(/\/$/, '')}/`);
      if (!inside || (best !== undefined && str(best.mount.mountPath)!.length >= at.length)) continue;
      const volume = this.volume(mount.name);
      if (volume !== undefined) best = { mount, volume, rest: relative(at, path) };
    }
    return best;
  }

  /** Identity of the storage behind a volume, so mounts of it in other pods can be found. */
  storageOf(volume: Obj): string | undefined {
    if (isObj(volume.persistentVolumeClaim)) return `pvc:${str(volume.persistentVolumeClaim.claimName)}`;
    if (isObj(volume.hostPath)) return `hostPath:${str(volume.hostPath.path)}`;
    if (isObj(volume.emptyDir)) return `emptyDir:${this.name}/${str(volume.name)}`;
    return undefined;
  }
}

export function podOf(doc: unknown): Pod | undefined {
  if (!isObj(doc)) return undefined;
  if (doc.kind === 'Pod') return new Pod(doc, obj(doc.spec));
  const template = obj(obj(doc.spec).template);
  if (['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'].includes(String(doc.kind))) return new Pod(doc, obj(template.spec));
  if (doc.kind === 'CronJob') return new Pod(doc, obj(obj(obj(obj(obj(doc.spec).jobTemplate).spec).template).spec));
  return undefined;
}

/** Where a projected or plain ConfigMap/Secret volume takes the file `rest` from: [kind, name, key]. */
export function sourceOfFile(volume: Obj, rest: string): { kind: 'configMap' | 'secret'; name: string; key: string } | undefined {
  const sources: Array<{ kind: 'configMap' | 'secret'; spec: Obj }> = [];
  if (isObj(volume.configMap)) sources.push({ kind: 'configMap', spec: volume.configMap });
  if (isObj(volume.secret)) sources.push({ kind: 'secret', spec: { ...volume.secret, name: volume.secret.secretName } });
  for (const s of arr(obj(volume.projected).sources)) {
    if (isObj(s.configMap)) sources.push({ kind: 'configMap', spec: s.configMap });
    if (isObj(s.secret)) sources.push({ kind: 'secret', spec: s.secret });
  }
  for (const { kind, spec } of sources) {
    const name = str(spec.name);
    if (name === undefined) continue;
    const items = arr(spec.items);
    if (items.length === 0) {
      // Every key becomes a file of its own name (a key cannot contain "/").
      if (!rest.includes('/') && rest !== '') return { kind, name, key: rest };
      continue;
    }
    const item = items.find((i) => i.path === rest);
    if (item !== undefined) return { kind, name, key: String(item.key) };
  }
  return undefined;
}

/** Data keys of a ConfigMap or Secret (data, stringData, binaryData). */
export function dataOf(doc: Obj): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of ['data', 'binaryData']) {
    for (const [k, v] of Object.entries(obj(doc[field]))) out[k] = doc.kind === 'Secret' && field === 'data' ? Buffer.from(String(v), 'base64').toString('utf8') : String(v);
  }
  for (const [k, v] of Object.entries(obj(doc.stringData))) out[k] = String(v);
  return out;
}

/** Kubernetes quantities: memory in MiB, CPU in cores. */
export function mebibytes(q: unknown): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(String(q));
  if (!m) throw new Error(`not a memory quantity: ${String(q)}`);
  const factor: Record<string, number> = { '': 1 / 2 ** 20, Ki: 1 / 1024, Mi: 1, Gi: 1024, K: 1000 / 2 ** 20, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20 };
  return Number(m[1]) * factor[m[2] ?? '']!;
}

export function cores(q: unknown): number {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(String(q));
  if (!m) throw new Error(`not a CPU quantity: ${String(q)}`);
  return Number(m[1]) / (m[2] === 'm' ? 1000 : 1);
}

/** A compose volume in short (`src:dst[:ro]`) or long syntax. */
export function composeVolume(v: unknown): { source: string; target: string; readOnly: boolean } {
  if (typeof v === 'string') {
    const [source, target, mode] = v.split(':');
    return { source: source!, target: target ?? source!, readOnly: (mode ?? '').split(',').includes('ro') };
  }
  const o = obj(v);
  return { source: String(o.source), target: String(o.target), readOnly: o.read_only === true };
}

export function composeEnv(env: unknown): Record<string, string> {
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => String(e).split(/=(.*)/s).slice(0, 2) as [string, string]));
  return Object.fromEntries(Object.entries(obj(env)).map(([k, v]) => [k, String(v)]));
}
