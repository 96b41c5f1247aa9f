// Two paths trade places in one system call: renameat2(RENAME_EXCHANGE). A reader resolving
// either path sees the old entry or the new one, never nothing; two plain renames leave an
// instant with no path at all (a reader polling every 5 ms saw it missing in 2 of 8 take-overs;
// strace showed an 11 ms gap). Node's fs has no renameat2, so libc's is called through koffi
// (prebuilt binaries in its npm package: nothing to compile on the user's machine). koffi is
// loaded on first use only: it costs ~17 ms and ~3.5 MB RSS, which an agent that never exchanges
// must not pay.

import { createRequire } from 'node:module';
import { constants } from 'node:os';

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 1 << 1;

type Renameat2 = (olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number) => number;

/** renameat2 failed; `code` is the errno name (EINVAL: the filesystem cannot exchange). */
export class ExchangeError extends Error {
  constructor(
    readonly code: string,
    readonly a: string,
    readonly b: string,
  ) {
    super(`renameat2(RENAME_EXCHANGE) of ${a} and ${b} failed: ${code}`);
    this.name = 'ExchangeError';
  }
}

// Codes meaning "this system or filesystem cannot exchange", as opposed to a path problem.
const UNSUPPORTED = new Set(['EINVAL', 'ENOSYS', 'EOPNOTSUPP', 'ENOTSUP']);
export const isUnsupported = (err: unknown): boolean => err instanceof ExchangeError && UNSUPPORTED.has(err.code);

let loaded: { call: Renameat2; errno: () => number } | null = null;
function binding(): { call: Renameat2; errno: () => number } {
  if (loaded !== null) return loaded;
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const call = koffi.load('libc.so.6').func('int renameat2(int, const char *, int, const char *, unsigned int)') as unknown as Renameat2;
  loaded = { call, errno: () => koffi.errno() };
  return loaded;
}

const errnoName = (n: number): string => Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;

/** Atomically swap `a` and `b` (files, directories or symlinks, in any combination). Both must exist. */
export function exchange(a: string, b: string): void {
  let lib;
  try {
    lib = binding();
  } catch {
    // No libc renameat2 (not glibc, or koffi has no binary for this platform).
    throw new ExchangeError('ENOSYS', a, b);
  }
  if (lib.call(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) !== 0) throw new ExchangeError(errnoName(lib.errno()), a, b);
}
