// An agent's side of minted credentials (GitHub App installation tokens): it asks whoever mints
// them (the supervisor over IPC, or an in-process minter when the agent runs alone) for the files
// holding a current token, and remembers which one git was refused with, so the retry gets a
// fresh token and a token that still works is never replaced.

import type { CredentialGrant } from '../shared/protocol.js';

/** staleGeneration: the grant git refused, or null. Rejects with a SyncError. */
export type CredentialChannel = (staleGeneration: number | null) => Promise<CredentialGrant>;

let channel: CredentialChannel | null = null;
/** The grant the current attempt uses, and the one git refused (one entry per agent process). */
let current: CredentialGrant | null = null;
let refused: number | null = null;

export function setCredentialChannel(c: CredentialChannel): void {
  channel = c;
}

/** The files of a current token for this attempt. */
export async function mintedFiles(): Promise<CredentialGrant> {
  if (channel === null) throw new Error('bug: no credential channel for a githubApp entry');
  current = null;
  const grant = await channel(refused);
  current = grant;
  refused = null;
  return grant;
}

/**
 * git was refused with the current grant: the next attempt asks for a fresh one. True when there
 * was a grant to replace (a failure before one was handed out is not a stale token).
 */
export function refuseCurrentGrant(): boolean {
  if (current === null) return false;
  refused = current.generation;
  current = null;
  return true;
}
