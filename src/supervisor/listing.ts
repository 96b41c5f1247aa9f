// Reads and validates the listing: every entry on its own, so one bad entry is reported and
// skipped while the others run; then the checks that need all entries (duplicates, nesting).

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { findJsonFault } from './json-position.js';
import { checkGroups } from './group-claims.js';
import { PathClaims } from './path-claims.js';
import { runSteps, runStepsInTurns } from './steps.js';
import { assignStoresSteps } from './stores.js';
import { EntryError, resolveEntry, type AgentDefaults, type ResolvedEntry } from '../shared/listing-schema.js';

/** Listings are small; anything larger is a mistake (or an attack) and is refused before parsing. */
export const MAX_LISTING_BYTES = 1024 * 1024;

export interface DesiredEntry {
  index: number;
  /** What the agent is sent (it validates it again itself). */
  raw: unknown;
  entry: ResolvedEntry;
  /** Stable text of the raw entry: a change means the agent must restart. */
  fingerprint: string;
}

export interface Listing {
  entries: DesiredEntry[];
  errors: EntryError[];
  /** Entries refused (one per entry, however many faults each has: `errors` lists every fault). */
  invalidEntries: number;
  /** One record per refused entry: who it seems to be (to keep its running agent) and why. */
  refused: RefusedEntry[];
  /** This listing's valid entries by their raw text: give it to the next read as `known`. */
  known: KnownEntries;
}

/**
 * Valid entries resolved before, by the text of their raw entry (JSON.stringify). Resolving is a
 * function of the raw entry and the process-wide defaults alone, so an entry whose text is
 * unchanged is not checked again: a reload that edits one entry of 5,000 checks one.
 */
export type KnownEntries = ReadonlyMap<string, ResolvedEntry>;

export interface RefusedEntry {
  index: number;
  /** The entry's name as far as it can be told (its `name`, or the last segment of `path`). */
  name: string | undefined;
  /** Its `path`, when that is a string. */
  path: string | undefined;
  /** Every fault, joined: one line per entry. */
  message: string;
}

export interface ListingOptions {
  /** Entries of one remote in one folder share an object store (SHARED_STORES, default on). */
  sharedStores?: boolean;
  /** Entries already running: in a clash they keep their claim over entries new to the listing. */
  running?: (entry: ResolvedEntry) => boolean;
  /** The previous listing's `known`: unchanged entries are taken from it, not checked again. */
  known?: KnownEntries;
}

export class ListingError extends Error {
  override readonly name = 'ListingError';
}

/**
 * The listing's bytes, read once per reload. Opened non-blocking and checked on the handle: a
 * FIFO (or a device) swapped in for the listing used to block open() forever, hanging every
 * later reload and the shutdown behind it (#12). Only a regular file is read, at most
 * MAX_LISTING_BYTES + 1 bytes of it.
 */
export async function readListingText(file: string): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new ListingError(`listing ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new ListingError(`listing ${file}: is not a regular file (a FIFO, device or folder); keeping the last good listing`);
    if (info.size > MAX_LISTING_BYTES) throw new ListingError(`listing ${file}: larger than ${MAX_LISTING_BYTES} bytes`);
    const buf = Buffer.alloc(MAX_LISTING_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_LISTING_BYTES) throw new ListingError(`listing ${file}: larger than ${MAX_LISTING_BYTES} bytes`);
    }
    return buf.subarray(0, length).toString('utf8');
  } catch (err) {
    if (err instanceof ListingError) throw err;
    throw new ListingError(`listing ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export async function readListing(file: string, defaults: AgentDefaults, options: ListingOptions = {}): Promise<Listing> {
  return parseListing(await readListingText(file), defaults, file, options);
}

export function parseListing(text: string, defaults: AgentDefaults, file: string, options: ListingOptions = {}): Listing {
  return validateListing(parseJson(text, file), defaults, file, options);
}

/**
 * parseListing in turns: the event loop runs between slices of at most SLICE_MS of checking, so
 * /healthz and /metrics answer while thousands of entries are checked (all at once, 5,000 entries
 * held the loop for over a second on a loaded node).
 */
export async function parseListingInTurns(text: string, defaults: AgentDefaults, file: string, options: ListingOptions = {}): Promise<Listing> {
  return runStepsInTurns(validationSteps(parseJson(text, file), defaults, file, options), SLICE_MS);
}

/** Longest stretch of listing work between two turns of the event loop. */
export const SLICE_MS = 10;

/** Entries checked between two looks at the clock. */
const ENTRIES_PER_STEP = 32;

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Never V8's message: it quotes the start of the file, which may be a secret (#12).
    const f = findJsonFault(text);
    const where = f === null ? 'not valid JSON' : `not valid JSON at line ${f.line}, column ${f.column}: ${f.kind}`;
    throw new ListingError(`listing ${file}: ${where}`);
  }
}

export function validateListing(data: unknown, defaults: AgentDefaults, file = 'listing', options: ListingOptions = {}): Listing {
  return runSteps(validationSteps(data, defaults, file, options));
}

/** The raw entry's text, or null for a value JSON cannot spell (a BigInt, a cycle: never valid). */
function textOf(raw: unknown): string | null {
  try {
    return JSON.stringify(raw) ?? null;
  } catch {
    return null;
  }
}

/** The validation, yielding every ENTRIES_PER_STEP entries so a caller may let the event loop run. */
function* validationSteps(data: unknown, defaults: AgentDefaults, file: string, options: ListingOptions): Generator<void, Listing> {
  if (!Array.isArray(data)) throw new ListingError(`listing ${file}: must be a JSON array of entries like [{"path": …, "repo": …, "branch": …}]`);
  const errors: EntryError[] = [];
  const candidates: DesiredEntry[] = [];
  const known = new Map<string, ResolvedEntry>();
  for (let index = 0; index < data.length; index++) {
    if (index % ENTRIES_PER_STEP === ENTRIES_PER_STEP - 1) yield;
    const raw: unknown = data[index];
    const text = textOf(raw);
    const before = text === null ? undefined : options.known?.get(text);
    const result = before === undefined ? resolveEntry(raw, index, defaults) : { entry: before };
    if ('errors' in result) {
      errors.push(...result.errors);
      continue;
    }
    const fingerprint = text ?? JSON.stringify(raw);
    known.set(fingerprint, result.entry);
    candidates.push({ index, raw, entry: result.entry, fingerprint });
  }
  yield;
  // An entry that clashes with a running one, or else with an earlier one, is refused: adding an
  // entry never takes a path or name away from one that is already syncing.
  const running = options.running ?? (() => false);
  const byClaim = [...candidates.filter((c) => running(c.entry)), ...candidates.filter((c) => !running(c.entry))];
  const entries: DesiredEntry[] = [];
  const claims = new PathClaims<DesiredEntry>();
  for (const [k, c] of byClaim.entries()) {
    if (k % ENTRIES_PER_STEP === ENTRIES_PER_STEP - 1) yield;
    const clash = claims.clash(c.entry.name, c.entry.path);
    if (clash === undefined) {
      entries.push(c);
      claims.add(c.entry.name, c.entry.path, c);
      continue;
    }
    const why =
      clash.entry.name === c.entry.name
        ? ['name', `"${c.entry.name}" is already used by entry #${clash.index + 1}; set a distinct "name"`]
        : clash.entry.path === c.entry.path
          ? ['path', `${c.entry.path} is already used by entry #${clash.index + 1}`]
          : ['path', `${c.entry.path} and entry #${clash.index + 1}'s ${clash.entry.path} are nested inside each other`];
    errors.push(new EntryError(c.index, c.entry.name, why[0], why[1]!));
  }
  entries.sort((a, b) => a.index - b.index);
  const grouped = checkGroups(entries, defaults.syncRoot);
  entries.splice(0, entries.length, ...grouped.kept);
  errors.push(...grouped.errors);
  errors.sort((a, b) => a.index - b.index);
  yield;
  const stores = yield* assignStoresSteps(entries.map((d) => d.entry), options.sharedStores ?? true);
  entries.forEach((d, i) => {
    const store = stores[i] ?? null;
    // A member's state is in its group's folder (layout.ts memberPath), not beside its path.
    if (store === null || d.entry.group !== null) return;
    d.entry = { ...d.entry, store };
    // Joining or leaving a store changes where the agent fetches: it restarts.
    d.fingerprint = JSON.stringify([d.raw, store.dir]);
  });
  const refused = new Map<number, RefusedEntry>();
  for (const e of errors) {
    const r = refused.get(e.index);
    if (r !== undefined) {
      r.message = `${r.message}; ${e.message}`;
      continue;
    }
    const raw = data[e.index] as { path?: unknown } | null;
    const path = typeof raw === 'object' && raw !== null && typeof raw.path === 'string' ? raw.path : undefined;
    refused.set(e.index, { index: e.index, name: e.entryName, path, message: e.message });
  }
  return { entries, errors, invalidEntries: refused.size, refused: [...refused.values()], known };
}

/**
 * Running entries that the new listing refuses (a typo, a bad value) keep running on their last
 * good definition: a refused entry is not a removed one, and must never be stopped, let alone
 * pruned (#12). An entry is the same when its name, or else its path, is. Only when a valid entry
 * now claims its name or path does the valid one win (the old agent stops, unpruned).
 */
export function keepRefused<R extends { name: string; desired: DesiredEntry }>(
  listing: Pick<Listing, 'entries' | 'refused'>,
  running: readonly R[],
): { kept: Array<{ agent: R; refusal: RefusedEntry }>; displaced: R[] } {
  const kept: Array<{ agent: R; refusal: RefusedEntry }> = [];
  const displaced: R[] = [];
  const valid = new PathClaims<DesiredEntry>();
  for (const d of listing.entries) valid.add(d.entry.name, d.entry.path, d);
  // The first refusal of each name and of each path, as a scan in listing order would find.
  const refusedByName = new Map<string, RefusedEntry>();
  const refusedByPath = new Map<string, RefusedEntry>();
  for (const r of listing.refused) {
    if (r.name !== undefined && !refusedByName.has(r.name)) refusedByName.set(r.name, r);
    if (r.path !== undefined && !refusedByPath.has(r.path)) refusedByPath.set(r.path, r);
  }
  for (const agent of running) {
    const path = agent.desired.entry.path;
    if (valid.name(agent.name) !== undefined) continue;
    const refusal = refusedByName.get(agent.name) ?? refusedByPath.get(path);
    if (refusal === undefined) continue;
    if (valid.path(path) !== undefined || valid.nested(path) !== undefined) displaced.push(agent);
    else kept.push({ agent, refusal });
  }
  return { kept, displaced };
}
