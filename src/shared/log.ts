// The winston logger both processes use: JSON lines on stdout (LOG_FORMAT=text for a terminal),
// with every message and field passed through redact() on the way out.

import winston from 'winston';
import { redact } from './redact.js';

export type Logger = winston.Logger;

const redactAll = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const value = info[key];
    if (typeof value === 'string') info[key] = redact(value);
  }
  return info;
});

export function createLogger(defaultMeta: Record<string, unknown> = {}): Logger {
  const text = process.env.LOG_FORMAT === 'text';
  return winston.createLogger({
    level: process.env.LOG_LEVEL ?? 'info',
    defaultMeta,
    format: winston.format.combine(
      redactAll(),
      winston.format.timestamp(),
      text
        ? winston.format.printf(({ timestamp, level, message, ...rest }) => {
            const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
            return `${String(timestamp)} ${level} ${String(message)} ${fields.join(' ')}`.trimEnd();
          })
        : winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
