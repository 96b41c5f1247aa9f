// GitHub App installation tokens, minted in the supervisor and shared by every entry of one
// installation: the app's JWT (RS256, signed with node:crypto) is exchanged at
// POST {apiUrl}/app/installations/{id}/access_tokens, the token kept in a 0600 file of the
// daemon's runtime folder (tmpfs) and replaced before it expires. Agents ask over IPC for the
// files, never for the token; git reads it through its helper like any password file.

import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncError } from '../shared/errors.js';
import type { GithubAppRef, ResolvedEntry } from '../shared/listing-schema.js';
import type { Log } from '../shared/log.js';
import type { CredentialGrant, SupervisorMessage } from '../shared/protocol.js';
import { redact, registerSecret } from '../shared/redact.js';
import { runtimeDir, writePrivateFile } from '../shared/runtime-dir.js';

/** The user name GitHub expects with an installation token. */
export const GITHUB_APP_USERNAME = 'x-access-token';

/** A token is replaced once this share of its life has passed (GitHub's last one hour: at 40 min). */
const REFRESH_AT = 2 / 3;
/** A failed mint is not retried for this long, however many entries ask (no stampede on a bad id). */
const FAILURE_HOLD_MS = 5_000;
const API_TIMEOUT_MS = 15_000;

interface Installation {
  dir: string;
  token: { refreshAt: number; expiresAt: number; generation: number } | null;
  generation: number;
  minting: Promise<void> | null;
  failure: { error: SyncError; until: number } | null;
}

export class GithubAppTokens {
  private readonly installations = new Map<string, Installation>();
  /** Token requests sent to the GitHub API (tests and logs). */
  mints = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly dir: () => string = runtimeDir,
  ) {}

  /**
   * The files of a currently valid token for this installation, minting one only when there is
   * none, it is past REFRESH_AT of its life, or git was refused with `staleGeneration`.
   */
  async grant(app: GithubAppRef, staleGeneration: number | null, log: Log): Promise<CredentialGrant> {
    const inst = this.installation(app);
    const t = inst.token;
    if (t !== null && this.now() < t.refreshAt && t.generation !== staleGeneration) return this.filesOf(inst, t.generation);
    // Entries asking while a token is being minted wait for that one: one request, not one each.
    if (inst.minting === null) {
      if (inst.failure !== null && this.now() < inst.failure.until) throw inst.failure.error;
      inst.minting = this.mint(inst, app, log).finally(() => {
        inst.minting = null;
      });
    }
    await inst.minting;
    const fresh = inst.token;
    if (fresh === null || this.now() >= fresh.expiresAt) {
      throw new SyncError('auth', `"githubApp.installationId" ${app.installationId}: the GitHub API issued a token that has already expired (check the clock)`);
    }
    return this.filesOf(inst, fresh.generation);
  }

  private filesOf(inst: Installation, generation: number): CredentialGrant {
    return { usernameFile: join(inst.dir, 'username'), passwordFile: join(inst.dir, 'password'), generation };
  }

  private installation(app: GithubAppRef): Installation {
    // The same app, installation, key and API: one token for all the entries that use it.
    const key = JSON.stringify([app.apiUrl, app.issuer, app.installationId, app.privateKeyFile]);
    let inst = this.installations.get(key);
    if (inst === undefined) {
      const id = createHash('sha256').update(key).digest('hex').slice(0, 16);
      inst = { dir: join(this.dir(), `github-app-${id}`), token: null, generation: 0, minting: null, failure: null };
      this.installations.set(key, inst);
    }
    return inst;
  }

  private async mint(inst: Installation, app: GithubAppRef, log: Log): Promise<void> {
    const started = this.now();
    try {
      const jwt = appJwt(await readAppKey(app), app.issuer, started);
      const { token, expiresAt } = await requestInstallationToken(app, jwt);
      this.mints += 1;
      registerSecret(token);
      await writePrivateFile(inst.dir, 'username', `${GITHUB_APP_USERNAME}\n`);
      await writePrivateFile(inst.dir, 'password', `${token}\n`);
      inst.generation += 1;
      const life = Math.max(0, expiresAt - started);
      inst.token = { refreshAt: started + life * REFRESH_AT, expiresAt, generation: inst.generation };
      inst.failure = null;
      log.info('github app token minted', { installationId: app.installationId, generation: inst.generation, expiresAt: new Date(expiresAt).toISOString() });
    } catch (err) {
      const error = err instanceof SyncError ? err : new SyncError('auth', `"githubApp" installation ${app.installationId}: ${redact(String(err))}`);
      inst.failure = { error, until: this.now() + FAILURE_HOLD_MS };
      log.warn('github app token request failed', { installationId: app.installationId, kind: error.kind, error: error.message });
      throw error;
    }
  }
}

/** The key is read on every mint: a key rotated in its file is used from the next token on. */
async function readAppKey(app: GithubAppRef): Promise<KeyObject> {
  const field = '"githubApp.privateKeyFile"';
  let pem: string;
  try {
    pem = await readFile(app.privateKeyFile, 'utf8');
  } catch (err) {
    throw new SyncError('config', `${field} ${app.privateKeyFile}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new SyncError('config', `${field} ${app.privateKeyFile}: does not hold a PEM private key (download one from the app's settings)`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new SyncError('config', `${field} ${app.privateKeyFile}: must be an RSA key (GitHub App keys are)`);
  return key;
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** The app's JWT: issued 60 s in the past (clock drift, as GitHub advises), valid 9 min (GitHub allows 10). */
export function appJwt(key: KeyObject, issuer: string, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ iat: now - 60, exp: now + 540, iss: issuer }));
  const signature = sign('sha256', Buffer.from(`${head}.${body}`), key);
  return `${head}.${body}.${b64url(signature)}`;
}

async function requestInstallationToken(app: GithubAppRef, jwt: string): Promise<{ token: string; expiresAt: number }> {
  const path = `/app/installations/${app.installationId}/access_tokens`;
  let res: Response;
  try {
    res = await fetch(`${app.apiUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'git-autosync' },
      // The JWT goes to apiUrl only: a redirect elsewhere is an error, not a second destination.
      redirect: 'error',
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new SyncError(timedOut ? 'timeout' : 'network', `"githubApp.apiUrl" ${app.apiUrl}: ${timedOut ? `no answer within ${API_TIMEOUT_MS / 1000}s` : `cannot reach the GitHub API (${cause?.code ?? cause?.message ?? (err as Error).message})`}`);
  }
  const text = await res.text().catch(() => '');
  let body: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: the status says enough
  }
  const said = typeof body.message === 'string' ? `: ${redact(body.message).slice(0, 200)}` : '';
  if (res.status === 201 || res.status === 200) {
    const token = body.token;
    const expiresAt = typeof body.expires_at === 'string' ? Date.parse(body.expires_at) : Number.NaN;
    if (typeof token !== 'string' || !/^[\x21-\x7e]{8,1000}$/.test(token) || !Number.isFinite(expiresAt)) {
      throw new SyncError('auth', `"githubApp.apiUrl" ${app.apiUrl}: POST ${path} answered ${res.status} without a token and its expiry`);
    }
    return { token, expiresAt };
  }
  if (res.status === 404) {
    throw new SyncError('auth', `"githubApp.installationId" ${app.installationId}: the GitHub API knows no installation ${app.installationId} of this app (404 from POST ${path}${said}); check the id in the installation's settings URL`);
  }
  if (res.status === 401) {
    throw new SyncError('auth', `"githubApp.${app.issuerField}" ${app.issuer}: the GitHub API refused the app's JWT (401${said}); check the ${app.issuerField} and that "githubApp.privateKeyFile" holds a current key of this app`);
  }
  if (res.status === 403 || res.status === 422) {
    throw new SyncError('auth', `"githubApp.installationId" ${app.installationId}: the GitHub API refused a token for this installation (${res.status}${said}); is it suspended or without access?`);
  }
  throw new SyncError('network', `"githubApp.apiUrl" ${app.apiUrl}: POST ${path} answered ${res.status}${said}`);
}

/** Every supervisor (continuous or one-time) shares one cache: tokens are per installation, daemon-wide. */
export const githubAppTokens = new GithubAppTokens();

/** The answer to an agent's credential-request. */
export async function answerCredentialRequest(entry: ResolvedEntry, id: number, staleGeneration: number | null, log: Log): Promise<SupervisorMessage> {
  const app = entry.credentials.githubApp;
  if (app === undefined) return { type: 'credential', id, grant: null, error: { kind: 'config', message: 'this entry has no "githubApp" to mint a token for' } };
  try {
    return { type: 'credential', id, grant: await githubAppTokens.grant(app, staleGeneration, log), error: null };
  } catch (err) {
    const e = err instanceof SyncError ? err : new SyncError('auth', String(err));
    return { type: 'credential', id, grant: null, error: { kind: e.kind, message: redact(e.message) } };
  }
}
