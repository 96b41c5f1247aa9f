// A reader in its own process that reads `<path>/f` as fast as it can and counts the reads that
// find nothing: what a consumer sees while `path` is swapped under it.

import { spawn } from 'node:child_process';
import { lstat, writeFile } from 'node:fs/promises';
import { waitFor, type Cleanup } from './tmp.js';

const READER = `const fs=require('fs');const [p,s]=process.argv.slice(1);let n=0,missing=0;fs.writeFileSync(s+'.ready','');while(!fs.existsSync(s)){n++;try{fs.readFileSync(p+'/f')}catch{missing++}}process.stdout.write(JSON.stringify({n,missing}))`;

/** Starts the reader and waits until it reads; `stop()` ends it and returns its counts. */
export async function startPathReader(t: Cleanup, path: string, stopFile: string): Promise<{ stop(): Promise<{ n: number; missing: number }> }> {
  const reader = spawn(process.execPath, ['-e', READER, path, stopFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => reader.kill('SIGKILL'));
  let out = '';
  reader.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await waitFor(() => lstat(`${stopFile}.ready`).then(() => true, () => false), { message: 'the reader to start' });
  return {
    async stop() {
      await writeFile(stopFile, '');
      await waitFor(() => reader.exitCode !== null, { message: 'the reader to stop' });
      return JSON.parse(out) as { n: number; missing: number };
    },
  };
}
