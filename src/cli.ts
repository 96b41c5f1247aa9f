#!/usr/bin/env node
// Entry point: `git-autosync` runs the supervisor on LISTING_PATH; `git-autosync agent …` runs one
// repo agent on its own; `--agent` is how the supervisor forks its agents (IPC on).

// Nothing beyond node's own modules is imported up here: a forked agent must not pay for the
// schema library (zod) or the supervisor's modules, in start-up time or in memory.
import { parseArgs } from 'node:util';

// The usage text comes from the settings table (shared/settings.ts: free of dependencies,
// tiny), loaded only when asked for.
async function printUsage(): Promise<void> {
  const { usage } = await import('./shared/settings.js');
  console.log(usage());
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--agent') {
    const { runSupervisedAgent } = await import('./repo-agent/main.js');
    runSupervisedAgent();
    return;
  }
  if (argv[0] === 'agent') {
    const { values } = parseArgs({
      args: argv.slice(1),
      options: {
        entry: { type: 'string' },
        path: { type: 'string' },
        repo: { type: 'string' },
        branch: { type: 'string' },
        ref: { type: 'string' },
        interval: { type: 'string' },
        publish: { type: 'string' },
        depth: { type: 'string' },
        once: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (values.help) {
      await printUsage();
      return;
    }
    const [{ ConfigError }, { defaultsFromEnv }] = await Promise.all([import('./shared/config-error.js'), import('./shared/env-defaults.js')]);
    let raw: unknown;
    if (values.entry !== undefined) {
      try {
        raw = JSON.parse(values.entry);
      } catch (err) {
        throw new ConfigError(`--entry is not valid JSON: ${(err as Error).message}`);
      }
    } else {
      const e: Record<string, unknown> = { path: values.path, repo: values.repo };
      if (values.branch !== undefined) e.branch = values.branch;
      if (values.ref !== undefined) e.ref = values.ref;
      if (values.publish !== undefined) e.publish = values.publish;
      if (values.interval !== undefined) e.interval = Number(values.interval);
      if (values.depth !== undefined) e.depth = Number(values.depth);
      raw = e;
    }
    const { runStandaloneAgent } = await import('./repo-agent/main.js');
    await runStandaloneAgent(raw, defaultsFromEnv(process.env), values.once);
    return;
  }
  if (argv[0] === 'schema') {
    const { listingJsonSchema } = await import('./shared/listing-schema.js');
    console.log(JSON.stringify(listingJsonSchema(), null, 2));
    return;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    await printUsage();
    return;
  }
  // The supervisor's heap, like the agents', should favour size: it lives as long as the pod.
  // Set before the supervisor's modules load, so the heap they build obeys it.
  (await import('node:v8')).setFlagsFromString('--optimize-for-size');
  // Flags first: a mistyped one is refused before any of the supervisor's modules load.
  const { mergeFlags } = await import('./shared/settings.js');
  const env = mergeFlags(process.env, argv);
  const { runSupervisor } = await import('./supervisor/main.js');
  await runSupervisor(env);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // By name: the classes live in modules loaded lazily above, and may not have loaded.
  if (['ConfigError', 'FlagError'].includes((err as Error).name) || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    const message = (err as Error).message;
    console.error(`git-autosync: ${message}${/--help/.test(message) ? '' : '; see git-autosync --help'}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
