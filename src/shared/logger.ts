// The winston logger both processes use: JSON lines on stdout (LOG_FORMAT=text for a terminal),
// with every message and field passed through redact() on the way out.

import winston from 'winston';
import type { Log } from './log.js';
import { redact } from './redact.js';


function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, depth + 1)]));
}

const redactAll = winston.format((info) => {
  for (const key of Object.keys(info)) info[key] = redactDeep(info[key]);
  return info;
});

export function createLogger(defaultMeta: Record<string, unknown> = {}): Log {
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
