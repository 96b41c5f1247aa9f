// What a git object id (commit sha) looks like: exactly 40 hex digits (SHA-1) or 64 (SHA-256),
// lower case as git prints them. One spelling: `{40,64}` used to let 41–63 digits through.

const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function isObjectId(value: string): boolean {
  return OBJECT_ID.test(value);
}
