// The memory baselines an agent is measured against, alive as long as the scope: node alone, and
// node with what an agent loads before its first sync (cli.js's static imports, via --help, which
// only prints the usage, then the agent's modules, with the agents' node flags), to split the
// agent's memory into node, code, and running.

import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { CLI } from '../../test/support/agent.js';
import { stopper } from '../../test/support/process.js';
import type { Scope } from './scope.js';

const AGENT_MAIN = new URL('../../dist/repo-agent/main.js', import.meta.url).href;

function spawnIdleNode(scope: Scope, args: string[]): number {
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  scope.after(stopper(child));
  if (child.pid === undefined) throw new Error(`node ${args.join(' ')} did not start`);
  return child.pid;
}

/** The pids of bare `node` and of node holding the agent's modules (started with `execArgv`). */
export function spawnMemoryBaselines(scope: Scope, execArgv: readonly string[]): { bareNode: number; withModules: number } {
  const bareNode = spawnIdleNode(scope, ['-e', 'setInterval(() => {}, 1000)']);
  const loadOnly = [
    `process.argv.splice(0, process.argv.length, process.execPath, ${JSON.stringify(CLI)}, '--help');`,
    `await import(${JSON.stringify(pathToFileURL(CLI).href)});`,
    `await import(${JSON.stringify(AGENT_MAIN)});`,
    'setInterval(() => {}, 1000);',
  ].join(' ');
  return { bareNode, withModules: spawnIdleNode(scope, [...execArgv, '--input-type=module', '-e', loadOnly]) };
}
