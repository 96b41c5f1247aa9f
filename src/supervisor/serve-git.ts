// SERVE_GIT: each entry's published commit, read-only over git's smart HTTP protocol (v2 and v0)
// at /git/{name}, so that other daemons (spokes) fetch from this one instead of from the origin.
// Only the two smart routes exist (`info/refs?service=git-upload-pack`, `git-upload-pack`); no
// dumb-protocol file, no receive-pack, nothing else of the filesystem. Each request runs
// `git upload-pack --stateless-rpc` in the entry's namespace (served-refs.ts), after checking its
// token and that every object it wants is the published commit.

import { lstat, mkdir } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { ResolvedEntry } from '../shared/listing-schema.js';
import type { Log } from '../shared/log.js';
import type { Metrics } from './metrics.js';
import { FLUSH, isV2Command, lsRefsAnswer, packet, PktLineError, readPackets, wantedObjects, type Packet } from './pkt-line.js';
import { readSecret, tokenMatches } from './secrets.js';
import { servedBranches, servedGitDir, servedNamespace, serveGitEnv, ServedRefs } from './served-refs.js';
import { QueueFull, ServeQueue } from './serve-queue.js';

/** upload-packs at once, and requests that may wait for one (see serve-queue.ts). */
export const SERVE_RUNNING = 4;
export const SERVE_WAITING = 256;
/** A request body inflated past this is refused: negotiation of a shallow fetch is a few KiB. */
const MAX_INFLATED_BYTES = 4 * 1024 * 1024;
/** upload-pack gives up after this long without progress on its side (its own --timeout). */
const UPLOAD_PACK_IDLE_S = 60;
/** Packing for spokes yields the CPU to the hub's own syncing (nice 10, inherited by pack-objects). */
const SERVE_NICENESS = 10;
/** `Git-Protocol: version=2`, as git sends it; anything else is not passed on to git. */
const GIT_PROTOCOL_HEADER = /^[A-Za-z0-9=._-]+(?::[A-Za-z0-9=._-]+)*$/;
/** uploadpack.packObjectsHook: one pack per distinct request, shared by the spokes that send it. */
const PACK_CACHE_HOOK = fileURLToPath(new URL('../../libexec/git-pack-cache', import.meta.url));
/** In the served git dir: the packs the hook keeps (the last 10 minutes' worth). */
export const PACK_CACHE_DIR = 'git-autosync-packs';

/**
 * The pack cache's folder, made if need be; null (no cache, packs made each time) unless it is a
 * real folder: a symlink planted there must not take the hook's writes elsewhere.
 */
async function packCacheDir(gitDir: string): Promise<string | null> {
  const dir = join(gitDir, PACK_CACHE_DIR);
  await mkdir(dir).catch(() => undefined);
  const st = await lstat(dir).catch(() => null);
  return st?.isDirectory() === true ? dir : null;
}

export interface ServedEntry {
  entry: ResolvedEntry;
  publishedCommit: string | null;
}

export interface GitServeOptions {
  /** SERVE_TOKEN_FILE; unset: only the open bind serves. */
  tokenFile: string | undefined;
  entry: (name: string) => ServedEntry | undefined;
  metrics: Metrics;
  log: Log;
}

type Answer = { status: number; result: string; message: string; headers?: Record<string, string> };

export class GitServer {
  private readonly refs: ServedRefs;
  private readonly queue: ServeQueue;
  /** Protocol v2's capability advertisement, by git dir: upload-pack's own, asked once. */
  private readonly capabilities = new Map<string, Promise<Buffer>>();

  constructor(private readonly options: GitServeOptions) {
    this.queue = new ServeQueue(SERVE_RUNNING, SERVE_WAITING, ({ active, queued }) => {
      options.metrics.serveUploadPacks.set({ state: 'running' }, active);
      options.metrics.serveUploadPacks.set({ state: 'waiting' }, queued);
    });
    this.refs = new ServedRefs(async (args) => {
      const { execa } = await import('execa');
      await execa('git', args, { env: serveGitEnv({}), extendEnv: false, timeout: 30_000, stdin: 'ignore' });
    }, options.log);
  }

  /** A publish: the entry's namespace follows it at once, so the next spoke is served the new commit. */
  published(entry: ResolvedEntry, commit: string): void {
    if (entry.serve && entry.group === null) void this.refs.follow(entry, commit);
  }

  /** The entry left the listing: nothing of it stays advertised, or pinned in a shared store. */
  withdraw(entry: ResolvedEntry): Promise<void> {
    return this.refs.withdraw(entry);
  }

  /**
   * `rest` is the path after /git/; `open`: this is the open bind (SERVE_OPEN_BIND), which asks
   * for no token. `body` is the whole request body (http.ts has read it, within its limit).
   */
  async handle(req: IncomingMessage, res: ServerResponse, rest: string, body: Buffer, open: boolean): Promise<void> {
    const answer = this.answerOf(res);
    const m = /^([^/]+)\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(rest);
    if (!open) {
      const token = await readSecret(this.options.tokenFile);
      if (token === null) return answer({ status: 404, result: 'disabled', message: 'not found' });
      if (!tokenMatches(req.headers.authorization, token, true)) {
        this.options.log.warn('git fetch refused: bad token', {});
        // Basic, so that git asks its credential helper (a spoke's usernameFile/passwordFile).
        return answer({ status: 401, result: 'unauthorized', message: 'bad token', headers: { 'WWW-Authenticate': 'Basic realm="git-autosync"' } });
      }
    }
    if (m === null) return answer({ status: 404, result: 'not-found', message: 'not found' });
    const [, name = '', route] = m;
    const service = new URL(req.url ?? '/', 'http://x').searchParams.get('service');
    if (route === 'git-receive-pack' || (route === 'info/refs' && service === 'git-receive-pack')) {
      return answer({ status: 403, result: 'refused', message: 'read-only: this daemon serves fetches only' });
    }
    const served = this.options.entry(name);
    if (served === undefined || !served.entry.serve) return answer({ status: 404, result: 'not-found', message: `no served entry named "${name}"` });
    // A member's own commit may not be in its group's generation yet: serving it would put a spoke
    // ahead of what readers here see. Members are not served (yet).
    if (served.entry.group !== null) return answer({ status: 404, result: 'not-found', message: `"${name}" is a member of group "${served.entry.group.name}"; group members are not served` });
    if (served.publishedCommit === null) {
      return answer({ status: 503, result: 'unpublished', message: `"${name}" has not published a commit yet`, headers: { 'Retry-After': '5' } });
    }
    // Also mends what a restart of this daemon left: the namespace is brought to the published commit.
    await this.refs.follow(served.entry, served.publishedCommit);
    const commit = await this.refs.current(name);
    if (commit === null) return answer({ status: 503, result: 'unpublished', message: `"${name}" cannot be served yet`, headers: { 'Retry-After': '5' } });
    const protocol = headerValue(req.headers['git-protocol']);
    const gitProtocol = protocol !== undefined && protocol.length <= 256 && GIT_PROTOCOL_HEADER.test(protocol) ? protocol : undefined;
    const v2 = gitProtocol?.split(':').includes('version=2') === true;

    if (route === 'info/refs') {
      if (req.method !== 'GET') return answer({ status: 405, result: 'refused', message: 'GET only' });
      if (service !== 'git-upload-pack') return answer({ status: 403, result: 'refused', message: 'only the smart protocol is served (service=git-upload-pack)' });
      // A spoke's every poll starts here and goes on with ls-refs: v2 answers both without git
      // (the capabilities are upload-pack's own, asked once per git dir), so polls cost the hub no process.
      if (v2) return this.answered(res, 'application/x-git-upload-pack-advertisement', await this.capabilitiesOf(served.entry));
      // As git http-backend: v0 opens with the service line, then upload-pack's ref advertisement.
      const head = Buffer.concat([packet('# service=git-upload-pack\n'), FLUSH]);
      return this.uploadPack(res, served.entry, ['--advertise-refs'], Buffer.alloc(0), gitProtocol, 'application/x-git-upload-pack-advertisement', head);
    }
    if (req.method !== 'POST') return answer({ status: 405, result: 'refused', message: 'POST only' });
    if (req.headers['content-type'] !== 'application/x-git-upload-pack-request') {
      return answer({ status: 415, result: 'invalid', message: 'expected Content-Type application/x-git-upload-pack-request' });
    }
    let request: Buffer;
    try {
      request = headerValue(req.headers['content-encoding']) === 'gzip' ? gunzipSync(body, { maxOutputLength: MAX_INFLATED_BYTES }) : body;
    } catch {
      return answer({ status: 400, result: 'invalid', message: `request body is not gzip or inflates past ${MAX_INFLATED_BYTES} bytes` });
    }
    let packets: Packet[];
    try {
      packets = readPackets(request);
    } catch (err) {
      return answer({ status: 400, result: 'invalid', message: err instanceof PktLineError ? err.message : 'malformed request' });
    }
    if (v2 && isV2Command(packets, 'ls-refs')) {
      return this.answered(res, 'application/x-git-upload-pack-result', lsRefsAnswer(packets, commit, servedBranches(served.entry)));
    }
    const wanted = wantedObjects(packets);
    if (wanted.wantRefs.length > 0) return answer({ status: 403, result: 'refused', message: 'want-ref is not served: ask for the advertised commit' });
    const foreign = wanted.oids.find((oid) => !this.refs.allows(name, oid));
    if (foreign !== undefined) {
      this.options.log.warn('git fetch refused: wants a commit that is not published', { repo: name, want: foreign });
      return answer({ status: 403, result: 'refused', message: `not our ref ${foreign}: only the published commit is served` });
    }
    return this.uploadPack(res, served.entry, [], request, gitProtocol, 'application/x-git-upload-pack-result', Buffer.alloc(0));
  }

  /** A smart-HTTP answer made here, without git (counted as `answered`). */
  private answered(res: ServerResponse, contentType: string, body: Buffer): void {
    this.options.metrics.serveRequests.inc({ endpoint: 'git', result: 'answered' });
    res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-cache' });
    res.end(body);
  }

  private capabilitiesOf(entry: ResolvedEntry): Promise<Buffer> {
    const dir = servedGitDir(entry);
    let caps = this.capabilities.get(dir);
    if (caps === undefined) {
      caps = import('execa').then(async ({ execa }) => {
        const r = await execa('git', ['upload-pack', '--stateless-rpc', '--strict', '--advertise-refs', dir], {
          env: serveGitEnv({ GIT_PROTOCOL: 'version=2' }),
          extendEnv: false,
          stdin: 'ignore',
          encoding: 'buffer',
          timeout: 30_000,
        });
        return Buffer.from(r.stdout);
      });
      // A failure is not kept: the next request asks again.
      caps.catch(() => this.capabilities.delete(dir));
      this.capabilities.set(dir, caps);
    }
    return caps;
  }

  private answerOf(res: ServerResponse): (a: Answer) => void {
    return (a) => {
      this.options.metrics.serveRequests.inc({ endpoint: 'git', result: a.result });
      res.writeHead(a.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...a.headers });
      res.end(`${a.message}\n`);
    };
  }

  private async uploadPack(res: ServerResponse, entry: ResolvedEntry, extra: string[], input: Buffer, gitProtocol: string | undefined, contentType: string, head: Buffer): Promise<void> {
    const answer = this.answerOf(res);
    try {
      await this.queue.run(async () => {
        if (res.destroyed) return; // the spoke left while it waited
        const { execa } = await import('execa');
        const gitDir = servedGitDir(entry);
        // Only a fetch packs; the ref advertisement (v0) runs no pack-objects.
        const cache = extra.length === 0 ? await packCacheDir(gitDir) : null;
        const env = serveGitEnv({
          GIT_NAMESPACE: servedNamespace(entry.name),
          ...(gitProtocol === undefined ? {} : { GIT_PROTOCOL: gitProtocol }),
          ...(cache === null ? {} : { GIT_AUTOSYNC_PACK_CACHE: cache }),
        });
        const hook = cache === null ? [] : ['-c', `uploadpack.packObjectsHook=${PACK_CACHE_HOOK}`];
        const child = execa('git', [...hook, 'upload-pack', '--stateless-rpc', '--strict', `--timeout=${UPLOAD_PACK_IDLE_S}`, ...extra, gitDir], {
          env,
          extendEnv: false,
          input,
          buffer: { stdout: false, stderr: true },
          maxBuffer: { stderr: 64 * 1024 },
          timeout: entry.timeoutMs,
          reject: false,
        });
        if (child.pid !== undefined) {
          try {
            setPriority(child.pid, SERVE_NICENESS);
          } catch {
            // It has exited already, or the platform refuses: it runs at our priority.
          }
        }
        res.on('close', () => {
          if (!res.writableFinished) child.kill();
        });
        let started = false;
        // The answer begins with git's first bytes (or its success, if it wrote none): a failure before then is a 500.
        const begin = () => {
          if (started) return;
          started = true;
          this.options.metrics.serveRequests.inc({ endpoint: 'git', result: 'served' });
          res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-cache' });
          if (head.length > 0) res.write(head);
        };
        child.stdout.on('data', (chunk: Buffer) => {
          begin();
          if (!res.write(chunk)) {
            child.stdout.pause();
            res.once('drain', () => child.stdout.resume());
          }
        });
        const result = await child;
        if (result.exitCode === 0 || started) {
          begin();
          // A failure after the answer began cannot be told in a status: the spoke sees a cut pack.
          if (result.exitCode === 0) res.end();
          else res.destroy();
          return;
        }
        this.options.log.warn('git upload-pack failed', { repo: entry.name, exitCode: result.exitCode ?? null, stderr: String(result.stderr ?? '').slice(0, 500) });
        answer({ status: 500, result: 'failed', message: 'upload-pack failed' });
      });
    } catch (err) {
      if (err instanceof QueueFull) return answer({ status: 503, result: 'busy', message: `busy: ${err.message}`, headers: { 'Retry-After': '1' } });
      throw err;
    }
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
