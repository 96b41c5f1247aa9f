// Checks on the two listing values that reach git: the remote URL and the ref.
// Each returns a reason (for the error message) or null when the value is safe to hand to git.

import { isAbsolute, normalize } from 'node:path';

/** The transports a listing may use: git is allowed these and no other (repo-agent/git.ts). */
export const TRANSPORTS = ['https', 'http', 'ssh', 'git', 'file'] as const;
export type Transport = (typeof TRANSPORTS)[number];
// URL schemes of each transport: its own name, and git's spellings of ssh.
const SCHEMES: Readonly<Record<string, Transport>> = { ...Object.fromEntries(TRANSPORTS.map((t) => [t, t])), 'git+ssh': 'ssh', 'ssh+git': 'ssh' };

// Control characters and whitespace never belong in a URL or ref; some would let a value
// spill into another argument or a config line. Unicode's spaces and line separators too (\s):
// a repo ending in U+2028, a line break to some readers, was accepted (#14, seed -176834107).
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f]|\s/;
// scp-like ssh syntax: [user@]host:path, where host has no slash before the colon.
const SCP_LIKE = /^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!\/\/)[^:]/;

export interface ParsedRemote {
  transport: Transport;
  /**
   * The URL as git is given it: the scheme in lower case. RFC 3986 schemes are case-insensitive
   * but git's protocol.allow is not ("HTTP://h/a.git" passed this check, then every fetch failed
   * with "transport 'HTTP' not allowed", #12 item 11); everything after the scheme is kept.
   */
  url: string;
}

export function checkRemoteUrl(url: string): { reason: string } | ParsedRemote {
  if (url.length === 0) return { reason: 'must not be empty' };
  if (url.startsWith('-')) return { reason: 'must not start with "-" (it would be read as a git option)' };
  if (CONTROL_OR_SPACE.test(url)) return { reason: 'must not contain spaces or control characters' };
  // "<transport>::<address>" runs a remote helper (ext:: runs any command); refused outright.
  if (/^[A-Za-z0-9+.-]+::/.test(url)) return { reason: 'remote-helper URLs ("<transport>::…", such as ext::) are not allowed' };
  const given = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1];
  if (given !== undefined) {
    const scheme = given.toLowerCase();
    const transport: Transport | undefined = SCHEMES[scheme];
    if (transport === undefined) return { reason: `transport "${scheme}" is not allowed (use ${TRANSPORTS.slice(0, -1).join(', ')} or ${TRANSPORTS.at(-1)})` };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { reason: 'is not a valid URL' };
    }
    if (parsed.password !== '') {
      return { reason: 'must not contain a password: put it in a file and name it with "passwordFile"' };
    }
    if ((transport === 'https' || transport === 'http') && parsed.username !== '') {
      return { reason: 'must not contain a user name for http(s): name a file with "usernameFile"' };
    }
    if (transport !== 'file' && parsed.hostname === '') return { reason: 'has no host' };
    // ssh would read "-oProxyCommand=…" as an option (git refuses it too, but say so here).
    if (parsed.hostname.startsWith('-') || parsed.username.startsWith('-')) return { reason: 'host and user must not start with "-"' };
    return { transport, url: scheme + url.slice(scheme.length) };
  }
  if (isAbsolute(url)) {
    if (normalize(url) !== url || (url.length > 1 && url.endsWith('/'))) return { reason: 'local paths must be normalised (no "..", "//" or trailing "/")' };
    return { transport: 'file', url };
  }
  if (SCP_LIKE.test(url)) {
    const host = url.slice(url.indexOf('@') + 1);
    if (host.startsWith('-') || url.startsWith('-')) return { reason: 'host and user must not start with "-"' };
    return { transport: 'ssh', url };
  }
  return { reason: 'is not a URL git can fetch from (expected https://, http://, ssh://, git://, file://, user@host:path or an absolute path)' };
}

/** git check-ref-format's rules, plus a refusal of leading "-" so a ref can never be an option. */
export function checkRefName(ref: string): string | null {
  if (ref.length === 0) return 'must not be empty';
  if (ref.length > 255) return 'is longer than 255 characters';
  if (ref.startsWith('-')) return 'must not start with "-" (it would be read as a git option)';
  if (CONTROL_OR_SPACE.test(ref)) return 'must not contain spaces or control characters';
  if (/[~^:?*[\\]/.test(ref)) return 'must not contain any of ~ ^ : ? * [ \\';
  if (ref.includes('..')) return 'must not contain ".."';
  if (ref.includes('@{') || ref === '@') return 'must not contain "@{" or be "@"';
  if (ref.startsWith('/') || ref.endsWith('/') || ref.includes('//')) return 'must not start or end with "/" or contain "//"';
  if (ref.endsWith('.') || ref.endsWith('.lock')) return 'must not end with "." or ".lock"';
  if (ref.split('/').some((part) => part.startsWith('.'))) return 'no part of it may start with "."';
  return null;
}

// git settings an entry may add: an allowlist, since a denylist of everything that can run a
// command (core.sshCommand, core.fsmonitor, filters, aliases, helpers…) is easy to get wrong.
const GIT_CONFIG_ALLOWED = [
  /^http\.(lowSpeedLimit|lowSpeedTime|postBuffer|version|sslVerify|sslCAInfo|sslCAPath|proxy|maxRequests|minSessions|followRedirects)$/i,
  /^https?\.[^.]+(\.[^.]+)*\.(sslVerify|sslCAInfo|proxy)$/i,
  /^core\.(compression|bigFileThreshold|packedGitLimit|packedGitWindowSize|deltaBaseCacheLimit|autocrlf|eol|symlinks|longpaths|ignoreCase|precomposeUnicode|quotePath|checkStat|trustctime)$/i,
  /^(pack|index|checkout|transfer|fetch)\.(threads|windowMemory|deltaCacheSize|depth|window|version|workers|thresholdForParallelism|fsckObjects|negotiationAlgorithm|unpackLimit|writeCommitGraph|parallel)$/i,
  /^protocol\.version$/i,
  /^submodule\.fetchJobs$/i,
  /^feature\.manyFiles$/i,
];
const GIT_CONFIG_ENTRY = /^([A-Za-z][A-Za-z0-9-]*(?:\.[^=\s]+)*\.[A-Za-z][A-Za-z0-9-]*)=([^\u0000-\u001f\u007f]*)$/;

/** null when `kv` is an allowed "key=value" git setting, else the reason it is refused. */
export function checkGitConfig(kv: string): string | null {
  const m = GIT_CONFIG_ENTRY.exec(kv);
  if (m === null) return `gitConfig entry ${JSON.stringify(kv.slice(0, 80))} must be "key=value"`;
  if (!GIT_CONFIG_ALLOWED.some((re) => re.test(m[1]!))) {
    return `gitConfig key "${m[1]}" is not allowed (settings that can run commands or move credentials are refused; see the docs for the allowed keys)`;
  }
  return null;
}

/**
 * One spelling for the same remote as git would reach it: scheme and host case, trailing "/"
 * and ".git" do not matter; user, port and transport do (they may name another server).
 */
export function remoteIdentity(url: string): string {
  let s = url.trim().replace(/\/+$/, '').replace(/\.git$/, '');
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/]*)(.*)$/i.exec(s);
  if (m) s = `${m[1]!.toLowerCase()}${m[2]!.toLowerCase()}${m[3]}`;
  return s;
}

/** A host name or pattern for an ssh config Host block (sshKeys): nothing that could end the line or quote. */
export const SSH_HOST_PATTERN = /^[A-Za-z0-9*?][A-Za-z0-9.*?_-]{0,252}$/;
