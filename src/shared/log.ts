// The logging interface every module writes to. Behind it: winston (the supervisor, or an agent
// running on its own) or the IPC channel (a supervised agent hands its lines to the supervisor,
// which keeps agents small and gives the daemon a single writer on stdout).

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface Log {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

export function levelEnabled(level: LogLevel, threshold: string | undefined): boolean {
  const max = LOG_LEVELS.indexOf((threshold ?? 'info') as LogLevel);
  return LOG_LEVELS.indexOf(level) <= (max === -1 ? 2 : max);
}
