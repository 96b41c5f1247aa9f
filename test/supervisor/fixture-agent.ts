// Three-line stand-ins for an agent, forked by SupervisedAgent like the real one: one that dies
// at once, one that refuses its entry (exit 78), one that says hello and idles until told to stop.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROTOCOL_VERSION } from '../../src/shared/protocol.js';

const BODIES = {
  crashes: 'process.exit(1);',
  refuses: 'process.exit(78);',
  idles: `process.send({ type: 'hello', protocolVersion: ${PROTOCOL_VERSION}, pid: process.pid });
setInterval(() => process.send({ type: 'heartbeat', at: Date.now() }), 200);
process.on('message', (m) => { if (m.type === 'shutdown') process.exit(0); });`,
} as const;

export type FixtureAgent = keyof typeof BODIES;

/** Writes the fixture into `dir` and returns its path (an ES module, so it needs no package.json). */
export async function fixtureAgent(dir: string, kind: FixtureAgent): Promise<string> {
  const file = join(dir, `${kind}-agent.mjs`);
  await writeFile(file, `${BODIES[kind]}\n`);
  return file;
}
