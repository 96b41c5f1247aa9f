// Path containment, for SYNC_ROOT and nested-entry checks.

import { isAbsolute, relative, sep } from 'node:path';

/** True when `p` lies strictly inside `root` (both absolute, normalised). */
export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}
