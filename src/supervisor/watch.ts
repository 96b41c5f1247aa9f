// "The listing may have changed" events: chokidar on the listing's folder, which sees plain
// writes, editors' write-and-rename, and the `..data` symlink swap of a mounted ConfigMap (the
// file itself never changes there: a new folder is linked in). Debounced, and backed by a
// periodic re-read in case an event is missed; the reader compares content anyway.

import { watch, type FSWatcher } from 'chokidar';
import { basename, dirname } from 'node:path';

export interface ListingWatcher {
  close(): Promise<void>;
}

export function watchListing(listingPath: string, onChange: () => void, opts: { debounceMs?: number; rereadMs: number }): ListingWatcher {
  const dir = dirname(listingPath);
  const file = basename(listingPath);
  let timer: NodeJS.Timeout | null = null;
  const fire = () => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, opts.debounceMs ?? 200);
  };
  const watcher: FSWatcher = watch(dir, { ignoreInitial: true, depth: 0, followSymlinks: false, atomic: true });
  watcher.on('all', (_event, changed) => {
    const name = basename(changed);
    // Our file, or ConfigMap plumbing (..data, ..2024_01_01_…) that swaps it.
    if (name === file || name.startsWith('..')) fire();
  });
  watcher.on('error', () => fire());
  // A change made between the first read and the watcher being ready would otherwise wait for
  // the periodic re-read: look once more when it is ready (unchanged bytes cost nothing).
  watcher.on('ready', () => fire());
  const reread = setInterval(onChange, opts.rereadMs);
  reread.unref();
  return {
    async close() {
      if (timer !== null) clearTimeout(timer);
      clearInterval(reread);
      await watcher.close();
    },
  };
}
