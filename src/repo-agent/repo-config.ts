// The repository's settings that follow the entry (its remote, partial-clone filter, gc and
// file-mode policy), and how an existing clone's remote is compared with the entry's.

import type { ResolvedEntry } from '../shared/listing-schema.js';
import { remoteIdentity } from '../shared/ref-and-url.js';
import type { GitRunner, RunOptions } from './git.js';

/**
 * Settings that follow the entry (checked once per agent, so a changed entry applies at
 * restart): the remote at `url` (relative submodule URLs and partial clones need it by name),
 * the partial-clone filter, gc and file-mode policy. `soleWriter`: a bare repository only
 * git-autosync writes to (our own, or a shared store).
 */
export function wantedConfig(e: ResolvedEntry, url: string, { soleWriter }: { soleWriter: boolean }): Record<string, string | null> {
  const wanted: Record<string, string | null> = {
    'remote.origin.url': url,
    'remote.origin.promisor': e.filter === null ? null : 'true',
    'remote.origin.partialclonefilter': e.filter,
    // gc is ours to run (see gcIfCluttered in retire.ts): git's own auto-gc would also run inside commands.
    'gc.auto': e.gc === 'off' ? '0' : null,
    'core.sharedRepository': e.fileMode === 'group-write' ? 'group' : null,
  };
  if (soleWriter) {
    // We are the only writer and never run gc beside another command: unreachable objects
    // can go at once, which keeps disk flat over thousands of syncs.
    Object.assign(wanted, { 'gc.pruneExpire': 'now', 'gc.worktreePruneExpire': 'now', 'core.logAllRefUpdates': 'false' });
  }
  return wanted;
}

/** Bring the repository's config to `wanted` (null: unset). */
export async function configureRemote(git: GitRunner, wanted: Record<string, string | null>, opts: RunOptions): Promise<void> {
  // One read, and writes only for what differs: a restart usually spawns no git here at all.
  const current = new Map<string, string>();
  const listed = await git.run(['config', '--local', '--null', '--list'], opts).catch(() => '');
  for (const item of listed.split('\0')) {
    const nl = item.indexOf('\n');
    if (nl > 0) current.set(item.slice(0, nl).toLowerCase(), item.slice(nl + 1));
  }
  for (const [key, value] of Object.entries(wanted)) {
    const have = current.get(key.toLowerCase());
    if (value === null && have !== undefined) await git.run(['config', '--unset-all', key], opts).catch(() => '');
    else if (value !== null && have !== value) await git.run(['config', key, value], opts);
  }
}

/** Settings as git config file text, for keys "section.name" or "section.sub.name". */
export function configBlock(settings: Record<string, string | null>): string {
  const sections = new Map<string, string[]>();
  for (const [key, value] of Object.entries(settings)) {
    if (value === null) continue;
    const parts = key.split('.');
    const name = parts.pop()!;
    const header = parts.length === 1 ? `[${parts[0]}]` : `[${parts[0]} "${parts.slice(1).join('.')}"]`;
    const quoted = `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    sections.set(header, [...(sections.get(header) ?? []), `\t${name} = ${quoted}`]);
  }
  return [...sections].map(([h, lines]) => `${h}\n${lines.join('\n')}\n`).join('');
}

/**
 * Whether the repository `git` runs in is a clone of `repo`: its origin names the same remote.
 * The one test for "may we take this clone over" (symlink take-over, in-place adoption).
 */
export async function isCloneOf(git: GitRunner, repo: string, opts: RunOptions): Promise<boolean> {
  const url = await git.run(['config', '--get', 'remote.origin.url'], opts).catch(() => '');
  return sameRemote(url.trim(), repo);
}

/** The same remote, spelled either way: case of scheme and host, trailing slash or ".git". */
export function sameRemote(a: string, b: string): boolean {
  return a !== '' && remoteIdentity(a) === remoteIdentity(b);
}
