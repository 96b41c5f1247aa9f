// Reading git's --progress output on stderr into {phase, percent, bytes}. Only a closed phase
// word and two numbers come out: no text from git, and so none from the remote, whose own
// lines ("remote: …") git copies onto the same stream.

import type { FetchPhase, FetchProgress } from '../shared/protocol.js';

const PHASES: Record<string, FetchPhase> = {
  Enumerating: 'counting',
  Counting: 'counting',
  Compressing: 'compressing',
  Receiving: 'receiving',
  // git unpacks a small fetch (fewer objects than fetch.unpackLimit) instead of keeping the pack.
  Unpacking: 'receiving',
  Resolving: 'resolving',
};

// The phases a remote reports: a "remote: Receiving objects: 100%, 9 GiB" line is the remote
// lying about our side, and is ignored, as are its byte counts.
const REMOTE_PHASES: ReadonlySet<FetchPhase> = new Set(['counting', 'compressing']);

// git's progress.c: "<title>: <n>% (<done>/<total>)[, <bytes> <unit>[ | <rate>]][, done.]" or,
// without a total, "<title>: <n>"; throughput in strbuf_humanise_bytes's units.
const LINE = /^(remote: )?(Enumerating|Counting|Compressing|Receiving|Unpacking|Resolving) (?:objects|deltas): +(?:(\d{1,3})% \(\d+\/\d+\)|\d+(?![\d%]))(?:, (\d+(?:\.\d+)?) (GiB|MiB|KiB|bytes?))?/;
const UNIT: Record<string, number> = { GiB: 1024 ** 3, MiB: 1024 ** 2, KiB: 1024, bytes: 1, byte: 1 };

/** One progress line; `bytesSoFar` is kept for phases that print no byte count (resolving). */
export function parseProgressLine(line: string, bytesSoFar: number | null): FetchProgress | null {
  const m = LINE.exec(line);
  if (m === null) return null;
  const fromRemote = m[1] !== undefined;
  const phase = PHASES[m[2]!]!;
  if (fromRemote && !REMOTE_PHASES.has(phase)) return null;
  const percent = m[3] === undefined ? null : Math.min(100, Number(m[3]));
  const said = !fromRemote && m[4] !== undefined ? Math.round(Number(m[4]) * UNIT[m[5]!]!) : null;
  // Bytes received only grow within a fetch; git rounds its figure, so keep the larger.
  const bytes = said === null ? bytesSoFar : Math.max(said, bytesSoFar ?? 0);
  return { phase, percent, bytes: bytes === null || !Number.isSafeInteger(bytes) ? bytesSoFar : bytes };
}

// Longer than any progress line git writes: a longer run without \r or \n is not progress, and
// is dropped rather than kept growing (the remote chooses what it sends).
const MAX_LINE = 512;

/** Feeds stderr chunks through parseProgressLine, line by line (git ends progress updates with \r). */
export class ProgressReader {
  private partial = '';
  private bytes: number | null = null;

  constructor(private readonly onProgress: (p: FetchProgress) => void) {}

  write(chunk: Buffer | string): void {
    // latin1: one char per byte, so a multi-byte character split across chunks cannot throw or
    // shift anything; every line we accept is ASCII.
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
    const lines = text.split(/[\r\n]/);
    const last = lines.pop() ?? '';
    this.partial = last.length > MAX_LINE ? '' : last;
    for (const line of lines) {
      const p = parseProgressLine(line, this.bytes);
      if (p === null) continue;
      this.bytes = p.bytes;
      this.onProgress(p);
    }
  }
}

/**
 * stderr without its progress updates (each ends in \r, the last one of a phase in "done.\n"):
 * error messages keep what git said about the failure, not hundreds of percentages.
 */
export function withoutProgress(stderr: string): string {
  return stderr
    .split('\n')
    .map((line) => line.split('\r').filter((part) => part.trim() !== '' && !LINE.test(part)).join(' '))
    .filter((line, i, all) => line !== '' || i === all.length - 1)
    .join('\n');
}
