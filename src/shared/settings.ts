// The one table of the daemon's settings: each variable, its flag (LISTING_PATH ↔ --listing-path),
// type, default and meaning. The flag parser, `--help` and the README's Environment table come
// from it (test/ship/settings.test.ts holds the README to it). Kept free of zod and of every other
// module: cli.ts loads it before it knows whether it is the supervisor or a small agent.
// To add a setting: add a row here, read it in supervisor/config.ts, add its README row.

export type SettingType = 'path' | 'ms' | 'boolean' | 'enum' | 'host:port' | 'signal' | 'string';

export interface Setting {
  /** The environment variable; the flag is derived from it. */
  readonly variable: string;
  readonly type: SettingType;
  /** As shown in the README and `--help`; `undefined` means unset (or required, for LISTING_PATH). */
  readonly default: string | undefined;
  /** The README's wording (markdown); `--help` drops the backticks. */
  readonly description: string;
  /** For `enum`: the accepted values. */
  readonly values?: readonly string[];
}

export const SETTINGS: readonly Setting[] = [
  { variable: 'LISTING_PATH', type: 'path', default: undefined, description: 'the JSON listing (required); watched, changes apply live' },
  { variable: 'SCRAPE_INTERVAL', type: 'ms', default: '60000', description: 'poll interval in **milliseconds** (as in the original)' },
  { variable: 'SYNC_ROOT', type: 'path', default: undefined, description: 'when set, every `path` must lie inside it' },
  { variable: 'GIT_TIMEOUT', type: 'ms', default: '120000', description: 'timeout of each git operation, ms' },
  { variable: 'STALE_AFTER', type: 'ms', default: '10000', description: 'how long a replaced tree stays on disk, ms' },
  { variable: 'PRUNE', type: 'boolean', default: 'false', description: "delete a removed entry's tree and state" },
  { variable: 'HTTP_BIND', type: 'host:port', default: '0.0.0.0:8080', description: '`host:port` of the health, metrics and status server' },
  { variable: 'ONE_TIME', type: 'boolean', default: 'false', description: 'sync every entry once and exit (init containers)' },
  { variable: 'HEARTBEAT_TIMEOUT', type: 'ms', default: '30000', description: 'an agent silent this long (ms) is killed and restarted; also the start-up deadline: an agent that has not said hello this long after it was forked is killed ("did not say hello within N ms of start"). Agents start at most 4 at a time' },
  { variable: 'WEBHOOK_SECRET_FILE', type: 'path', default: undefined, description: 'file with the push-webhook secret; enables `/webhook/*`' },
  { variable: 'SYNC_TOKEN_FILE', type: 'path', default: undefined, description: 'file with the bearer token; enables `POST /sync/{name}`' },
  { variable: 'SERVE_TOKEN_FILE', type: 'path', default: undefined, description: 'file with the bearer token for what this daemon serves to others; enables `GET /events` (every publish, as Server-Sent Events) and, with `SERVE_GIT`, `/git/{name}`' },
  { variable: 'SERVE_GIT', type: 'boolean', default: 'false', description: "serve each entry's **published** commit read-only over git's smart HTTP at `/git/{name}` (a hub for other daemons); needs `SERVE_TOKEN_FILE` or `SERVE_OPEN_BIND`" },
  { variable: 'SERVE_OPEN_BIND', type: 'host:port', default: undefined, description: 'a second address serving only `/git/*` and `/events`, **without a token**: for in-cluster use behind a NetworkPolicy; the only way to serve without `SERVE_TOKEN_FILE`' },
  { variable: 'FOLLOW_EVENTS', type: 'string', default: undefined, description: "a hub's `/events` URL: every entry whose `repo` is that hub's `/git/{name}` syncs as soon as the hub publishes; while the stream is down, entries poll the hub on their interval" },
  { variable: 'FOLLOW_TOKEN_FILE', type: 'path', default: undefined, description: "file with the hub's serve token, sent to `FOLLOW_EVENTS` as a bearer token (entries authenticate their fetches with `usernameFile`/`passwordFile` or `CREDENTIALS_FILE`)" },
  { variable: 'SYNC_ON_SIGNAL', type: 'signal', default: undefined, description: 'another signal (e.g. `SIGUSR1`) that, like `SIGHUP`, syncs every entry now' },
  { variable: 'CREDENTIALS_FILE', type: 'path', default: undefined, description: 'JSON file `[{url, usernameFile, passwordFile}]`: http(s) credentials for every entry whose URLs (submodules included) fall in a `url` scope; re-read on every attempt' },
  { variable: 'SHARED_STORES', type: 'boolean', default: 'true', description: 'entries of one remote in one folder share an object store; `false` gives each entry its own' },
  { variable: 'LOG_FORMAT', type: 'enum', default: 'json', values: ['json', 'text'], description: '`json` lines, or `text` for a terminal' },
  { variable: 'LOG_LEVEL', type: 'enum', default: 'info', values: ['error', 'warn', 'info', 'debug'], description: 'one of `error`, `warn`, `info`, `debug`' },
];

/** LISTING_PATH → --listing-path */
export const flagOf = (s: Setting): string => `--${s.variable.toLowerCase().replace(/_/g, '-')}`;

/** A mistyped or incomplete command-line flag (a bad value is a ConfigError, found later). */
export class FlagError extends Error {
  override readonly name = 'FlagError';
}

/**
 * Command-line flags over the environment; returns the merged environment. A boolean takes
 * `--x` or `--x=true|false`; any other setting `--x value` or `--x=value`. Values are checked
 * later, with the environment's, so a bad one is named the same way whichever way it came.
 */
export function mergeFlags(env: NodeJS.ProcessEnv, argv: readonly string[]): NodeJS.ProcessEnv {
  const byFlag = new Map(SETTINGS.map((s) => [flagOf(s), s]));
  const merged = { ...env };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const setting = byFlag.get(name);
    if (setting === undefined) {
      const hint = arg.startsWith('--') ? `unknown flag ${name}` : `unexpected argument ${JSON.stringify(arg)}`;
      throw new FlagError(`${hint}; see git-autosync --help for the flags`);
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (setting.type === 'boolean') value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new FlagError(`${name} needs a value (${name}=…); see git-autosync --help`);
      value = next;
      i++;
    }
    merged[setting.variable] = value;
  }
  return merged;
}

const VALUE_HINT: Record<SettingType, string> = { path: 'PATH', ms: 'MS', boolean: '[=true|false]', enum: '', 'host:port': 'HOST:PORT', signal: 'SIGNAL', string: 'VALUE' };

/** The `--help` text, flags from the table. */
export function usage(): string {
  const rows = SETTINGS.map((s) => {
    const hint = s.type === 'enum' ? s.values!.join('|') : VALUE_HINT[s.type];
    const left = `${flagOf(s)}${s.type === 'boolean' ? hint : ` ${hint}`}`;
    const plain = s.description.replace(/`|\*\*/g, '');
    const dflt = s.default === undefined ? '' : ` (default ${s.default})`;
    return `  ${left.padEnd(33)} ${s.variable}: ${plain}${dflt}`;
  });
  return `usage:
  git-autosync [flags]                 run the daemon on the listing at LISTING_PATH
flags (each stands for the environment variable named after it, and wins over it):
${rows.join('\n')}
  --help                            this text
other commands:
  git-autosync agent --entry '<json>'  sync one listing entry on its own
  git-autosync agent --path P --repo URL [--branch B | --ref R] [--interval MS] [--publish exchange|in-place]
      [--depth N] [--once]   --once syncs once and exits (0 on success), e.g. in an init container
  git-autosync schema                  print the listing's JSON Schema`;
}
