// What the two atomic publishers (symlink, exchange) share: each commit's tree is built in the
// state folder beside `path`, and a replaced tree is kept (`keep`) or retired after staleAfter.

import type { Layout } from '../../shared/layout.js';
import type { Retirement } from '../retire.js';

export abstract class TreesBesidePath {
  constructor(
    protected readonly layout: Layout,
    protected readonly retirement: Retirement,
  ) {}

  get home(): string {
    return this.layout.stateDir;
  }

  get outermost(): string {
    return this.layout.parent;
  }

  get folders(): readonly string[] {
    const { stateDir, worktreesDir, secretsDir, asideDir } = this.layout;
    return [stateDir, worktreesDir, secretsDir, asideDir];
  }

  get kept(): string[] {
    return this.retirement.kept;
  }

  discard(commit: string): void {
    this.retirement.retireLater(commit);
  }

  close(): void {
    this.retirement.close();
  }
}
