// Where an entry's own http(s) user name and password come from for one attempt: the listing's
// files, a GitHub App installation token minted by the supervisor, or an askpass endpoint's
// answer. Each yields two files (read by git's helper like any password file) for the origin of
// the entry's repo, and the field to name when they fail.

import type { ResolvedEntry } from '../shared/listing-schema.js';
import { mintedFiles } from './minted.js';

export interface HttpFiles {
  usernameFile: string;
  passwordFile: string;
  field: { username: string; password: string };
}

/** The listing's files, a minted GitHub App token's, or the askpass endpoint's answer. */
export async function httpFiles(entry: ResolvedEntry): Promise<HttpFiles | null> {
  const c = entry.credentials;
  if (c.githubApp !== undefined) {
    const g = await mintedFiles();
    return { usernameFile: g.usernameFile, passwordFile: g.passwordFile, field: { username: 'githubApp', password: 'githubApp' } };
  }
  if (c.askpassUrl !== undefined) {
    // Loaded only by entries that use it: an agent's private memory holds every module it loads.
    const { fetchAskpassFiles } = await import('./askpass-url.js');
    return { ...(await fetchAskpassFiles(entry, c.askpassUrl)), field: { username: 'askpassUrl', password: 'askpassUrl' } };
  }
  if (c.usernameFile === undefined || c.passwordFile === undefined) return null;
  return { usernameFile: c.usernameFile, passwordFile: c.passwordFile, field: { username: 'usernameFile', password: 'passwordFile' } };
}
