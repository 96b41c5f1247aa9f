// The closed set of failure kinds that travel over IPC and become metric labels and status fields.

export const SYNC_ERROR_KINDS = [
  'auth',
  'network',
  'timeout',
  /** The host answered 429 (or 503 with Retry-After): the entry waits as long as it asked. */
  'rate-limited',
  'not-found',
  'invalid-ref',
  'local-state',
  'config',
  /** A pre-publish hook refused the commit: the previous tree stays published. */
  'vetoed',
  /** The commit (or its tag) has no good signature by the listing's keys (`verify`): the previous tree stays. */
  'unverified',
  'git',
] as const;

export type SyncErrorKind = (typeof SYNC_ERROR_KINDS)[number];

/** An expected failure of a sync: it is reported and retried, it never crashes the agent. */
export class SyncError extends Error {
  override readonly name = 'SyncError';
  constructor(
    readonly kind: SyncErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
