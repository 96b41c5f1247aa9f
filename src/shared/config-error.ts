// A setting or flag the daemon refuses at start (bad value, unknown flag): the CLI exits 2.

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
