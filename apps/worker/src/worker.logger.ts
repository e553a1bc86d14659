import pino, { DestinationStream, Logger } from 'pino';

export interface WorkerLoggerOptions {
  level: string;
  /** The `service` field of every line (default pairwatch-worker). */
  service?: string;
  monitorId?: string;
  pair?: string;
  /** Where the JSON lines go; stdout (synchronously, so nothing is lost on exit) by default. */
  destination?: DestinationStream;
}

/** Paths censored wherever they appear in a log call's object (one level deep). */
const REDACT_PATHS = [
  'redisUrl',
  '*.redisUrl',
  'REDIS_URL',
  '*.REDIS_URL',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
];

/** Structured JSON lines: level label, ISO time, and the worker's monitorId and pair on every line. */
export function createWorkerLogger(options: WorkerLoggerOptions): Logger {
  const base: Record<string, unknown> = { service: options.service ?? 'pairwatch-worker', pid: process.pid };
  if (options.monitorId !== undefined) base.monitorId = options.monitorId;
  if (options.pair !== undefined) base.pair = options.pair;
  return pino(
    {
      level: options.level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A URL fit for logs: any user name or password replaced. Unparseable input is not echoed at all. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username) parsed.username = '***';
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable URL]';
  }
}
