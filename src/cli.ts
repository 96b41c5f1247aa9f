#!/usr/bin/env node
// Entry point: `git-autosync` runs the supervisor on LISTING_PATH; `git-autosync agent …` runs one
// repo agent on its own; `--agent` is how the supervisor forks its agents (IPC on).

// Nothing beyond node's own modules is imported up here: a forked agent must not pay for the
// schema library (zod) or the supervisor's modules, in start-up time or in memory.
import { parseArgs } from 'node:util';

const USAGE = `usage:
  git-autosync [flags]                 run the daemon on the listing at LISTING_PATH
      flags (each overrides its environment variable): --listing-path, --scrape-interval (ms),
      --http-bind host:port, --log-level, --one-time, --sync-root, --prune, --git-timeout (ms),
      --stale-after (ms)
  git-autosync agent --entry '<json>'  sync one listing entry on its own
  git-autosync schema                  print the listing's JSON Schema
  git-autosync agent --path P --repo URL [--branch B | --ref R] [--interval MS] [--publish in-place]
options for agent:
  --once    sync once and exit (0 on success), e.g. in an init container`;

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
      console.log(USAGE);
      return;
    }
    const { ConfigError, defaultsFromEnv } = await import('./shared/env-defaults.js');
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
    console.log(USAGE);
    return;
  }
  // The supervisor's heap, like the agents', should favour size: it lives as long as the pod.
  // Set before the supervisor's modules load, so the heap they build obeys it.
  (await import('node:v8')).setFlagsFromString('--optimize-for-size');
  const { runSupervisor } = await import('./supervisor/main.js');
  const { mergeFlags } = await import('./supervisor/config.js');
  await runSupervisor(mergeFlags(process.env, argv));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if ((err as Error).name === 'ConfigError' || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`git-autosync: ${(err as Error).message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
