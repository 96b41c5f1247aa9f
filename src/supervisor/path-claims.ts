// Which entry already claims a name or a path, or a path nested with it: a lookup in O(depth of
// the path), not a scan of every entry (listings of thousands of entries are checked on every
// reload). Paths are absolute and normalised (the listing schema sees to it).

import { dirname } from 'node:path';

export class PathClaims<T> {
  private readonly byName = new Map<string, T>();
  private readonly byPath = new Map<string, T>();
  /** Every folder above a claimed path → the first claim below it. */
  private readonly below = new Map<string, T>();
  private readonly order = new Map<T, number>();

  add(name: string, path: string, claim: T): void {
    this.order.set(claim, this.order.size);
    if (!this.byName.has(name)) this.byName.set(name, claim);
    if (!this.byPath.has(path)) this.byPath.set(path, claim);
    for (const dir of ancestors(path)) if (!this.below.has(dir)) this.below.set(dir, claim);
  }

  name(name: string): T | undefined {
    return this.byName.get(name);
  }

  path(path: string): T | undefined {
    return this.byPath.get(path);
  }

  /** A claim on a path strictly inside `path`, or one `path` lies strictly inside (the earliest). */
  nested(path: string): T | undefined {
    let found = this.below.get(path);
    for (const dir of ancestors(path)) {
      const above = this.byPath.get(dir);
      if (above !== undefined && (found === undefined || this.order.get(above)! < this.order.get(found)!)) found = above;
    }
    return found;
  }

  /** The earliest claim that clashes with `name` or `path` in any way. */
  clash(name: string, path: string): T | undefined {
    const all = [this.name(name), this.path(path), this.nested(path)].filter((c): c is T => c !== undefined);
    return all.sort((a, b) => this.order.get(a)! - this.order.get(b)!)[0];
  }
}

function* ancestors(path: string): Generator<string> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    yield dir;
    if (dirname(dir) === dir) return;
  }
}
