// The listing's fields as the README documents them: one row per field (or per pair of fields
// documented together), rendered into the README's Listing table (test/shared/json-schema.test.ts
// holds the README to it), used as each field's description in the schema (and so in
// schema/listing.schema.json), and checked against the schema's fields by the compiler
// (listing-schema.ts). To add a listing field, three files: its rule and its check on arrival at
// the agent in entry-fields.ts, its row here, its zod field and resolution in listing-schema.ts
// (ResolvedEntry is derived from the resolution); then regenerate schema/ and the README.

export interface ListingDocRow {
  readonly fields: readonly string[];
  /** How the README writes two fields in one row: `branch` / `ref`, or `a`, `b`. */
  readonly join?: ' / ';
  /** The README's wording (markdown). */
  readonly meaning: string;
}

export const LISTING_DOC = [
  { fields: ['path'], meaning: "absolute, normalised path to publish at (required)" },
  { fields: ['repo'], meaning: "`https://`, `http://`, `ssh://`, `git://`, `file://`, `user@host:path` or an absolute path (required). No credentials in it." },
  { fields: ['branch', 'ref'], join: ' / ', meaning: "branch (original field), or `ref`: branch, tag, full ref (`refs/…`) or full commit sha. A sha in `ref` is synced once and never polled; a `branch` of 40 hex characters is a branch of that name. `ref: \"semver:>=1.4 <2\"`: the highest tag in the range (`v1.4.2` or `1.4.2`), followed as higher ones appear, never a pre-release unless the range names one; `/status` shows the tag and version (`resolvedTag`). No ref: the remote's HEAD." },
  { fields: ['name'], meaning: "name used in logs and reports; defaults to the last segment of `path`" },
  { fields: ['interval'], meaning: "poll interval (ms) for this entry" },
  { fields: ['depth'], meaning: "history depth, default `1`; `0` fetches full history" },
  { fields: ['publish'], meaning: "`symlink` (default, atomic: `path` is a symlink), `exchange` (atomic: `path` is a real directory, swapped in one `renameat2(RENAME_EXCHANGE)`) or `in-place` (not atomic); see [Publish modes](#publish-modes)" },
  { fields: ['timeout'], meaning: "timeout of each git operation (ms)" },
  { fields: ['submodules'], meaning: "`recursive` (default), `shallow` (depth 1) or `off`; submodules on the entry's origin use its credentials, others need `credentials`; relative URLs work" },
  { fields: ['sparse'], meaning: "directories to check out (cone mode); nothing else reaches the tree" },
  { fields: ['filter'], meaning: "partial-clone filter (`blob:none`, `tree:0`, `blob:limit=1m`): objects are fetched only as checkouts need them" },
  { fields: ['keep'], meaning: "how many previously published trees to keep on disk (default 0), listed in `/status` as `keptCommits`" },
  { fields: ['gc'], meaning: "`auto` (default: replaced commits' objects are collected once a few hundred pile up — disk stays flat), `always`, `aggressive` or `off`" },
  { fields: ['fileMode'], meaning: "`group-write`: files and folders group-writable, for consumers under another UID in the same group" },
  { fields: ['gitConfig'], meaning: "extra `\"key=value\"` git settings from an allowlist (`http.*` timeouts/proxy/TLS, `core.autocrlf`, `core.compression`, `pack.*`, …); anything that can run a command or carry a credential is refused" },
  { fields: ['staleAfter'], meaning: "how long a replaced tree stays on disk (ms)" },
  { fields: ['prune'], meaning: "delete the tree and state when the entry is removed" },
  { fields: ['serve'], meaning: "`false`: with `SERVE_GIT`, this entry is not served at `/git/{name}` (default `true`)" },
  { fields: ['required'], meaning: "`false`: this entry never holds `/readyz` back (default `true`)" },
  { fields: ['maxStaleness'], meaning: "`/readyz` fails when the last successful sync is older than this (ms)" },
  { fields: ['webhook'], meaning: "`{url, method, timeoutMs}`: called after each publish with JSON `{name, repo, ref, commit, path}`; retried with backoff (5 attempts); never blocks syncing" },
  { fields: ['execHook'], meaning: "`{command: [...], timeoutMs}`: run (no shell) in the new tree after each publish, with `GIT_AUTOSYNC_COMMIT`, `GIT_AUTOSYNC_NAME`, `GIT_AUTOSYNC_PATH`; a failure is logged, counted and shown in `/status`, the tree stays" },
  { fields: ['prePublishHook'], meaning: "`{command: [...], timeoutMs}`: run in the new tree **before** it is published; a non-zero exit or a timeout vetoes the commit: the previous tree stays, and that commit is not tried again until the remote moves" },
  { fields: ['verify'], meaning: "`{mode, sshAllowedSignersFile, gpgKeysFile}`: publish only commits with a good signature by one of these keys, checked with `git verify-commit` (and, `mode` `tag` or `tag-and-head`, the annotated tag with `git verify-tag`; `tag` checks the tag only). `mode` defaults to `head`; give at least one key file: an ssh allowed-signers file, or OpenPGP public keys (imported into a GnuPG home of the entry's own, never the user's keyring). A refused commit is not published (the previous tree stays), shows in `/status` as `unverified` with the commit and the reason, and is not tried again until the remote moves or a key file changes. Checked before `prePublishHook`" },
  { fields: ['group'], meaning: "a group name: entries of one `group` whose paths share one parent folder are published as one consistent set, that parent becoming a relative symlink to a generation holding every member (see [Consistent sets](#consistent-sets-group)). Members use `publish` `symlink`; a member's `prePublishHook` runs on the whole candidate set" },
  { fields: ['touchFile'], meaning: "a file touched after each publish, for apps that watch one file" },
  { fields: ['sshKeyFile', 'knownHostsFile'], meaning: "ssh private key and known_hosts files (mounted secrets); host keys are checked strictly" },
  { fields: ['usernameFile', 'passwordFile'], meaning: "http(s) user name and password/token files, given to git only for the origin of `repo` (scheme, host, port; any path), so same-origin submodules get them and other origins never do" },
  { fields: ['credentials'], meaning: "`[{url, usernameFile, passwordFile}]`: http(s) credentials for other origins or path prefixes (submodules); each is given to git only for URLs in its scope (git's `credential.<url>` rules), the longest matching prefix wins" },
  { fields: ['githubApp'], meaning: "`{appId` or `clientId, installationId, privateKeyFile, apiUrl}`: authenticate as a GitHub App installation (http(s) remotes). The daemon signs the app's JWT, mints an installation token (user `x-access-token`), shares it between the entries of one installation and renews it when an entry needs it after 2/3 of its life; a token git refuses is replaced and the sync retried once. `apiUrl` defaults to `https://api.github.com` (GitHub Enterprise: `https://HOST/api/v3`)" },
  { fields: ['askpassUrl'], meaning: "http(s) endpoint asked on every attempt (5 s timeout, no redirects) for `username=` and `password=` lines, e.g. a Vault agent or token sidecar on `127.0.0.1`" },
  { fields: ['sshKeys'], meaning: "`[{host, keyFile}]`: an ssh key per host (the repo's, a submodule host's); each key is offered only to its host, host keys checked strictly with `knownHostsFile`" },
] as const satisfies readonly ListingDocRow[];

export type ListingField = (typeof LISTING_DOC)[number]['fields'][number];

/** The README's Listing table (markdown), row for row. */
export function listingTable(): string {
  const rows = (LISTING_DOC as readonly ListingDocRow[]).map((r) => `| ${r.fields.map((f) => `\`${f}\``).join(r.join ?? ', ')} | ${r.meaning} |`);
  return ['| field | meaning |', '|---|---|', ...rows].join('\n');
}
