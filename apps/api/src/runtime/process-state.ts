import { Logger } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { LOG_TAIL_LINES, STATE_FILE_PATTERN, tailLines } from './workload';
import { RELAY_KEY } from './worker-runtime';

/**
 * The process runtime's state: one `<key>.json` (and the workload's `<key>.log`) per workload in a directory,
 * where a restarted API, another API or `npm run down` finds the workloads again.
 */

const RECORD = z.object({
  version: z.literal(1),
  /** The workload's key: its monitor id, or RELAY_KEY. */
  monitorId: z.string(),
  pair: z.string(),
  instance: z.string(),
  pid: z.number().int().gt(1),
  /** The script it was started with: a pid only counts as this workload while it runs that script. */
  script: z.string().refine((script) => path.isAbsolute(script)),
  specHash: z.string(),
  startedAt: z.string(),
  /** Set once it has died while an API watched it. */
  exit: z
    .object({ key: z.string(), exitCode: z.number().nullable(), exitedAt: z.string(), logTail: z.string() })
    .optional(),
  /** Set when a stop began (by an API or `npm run down`): its death is then a removal, not a crash. */
  stopping: z.string().optional(),
});

export type ProcessWorkerRecord = z.infer<typeof RECORD>;

/** A log file is cut back to its last LOG_KEEP_BYTES when it has grown past LOG_MAX_BYTES. */
const LOG_MAX_BYTES = 1024 * 1024;
const LOG_KEEP_BYTES = 64 * 1024;

export class ProcessStateStore {
  private readonly logger = new Logger(ProcessStateStore.name);

  constructor(readonly dir: string) {}

  logPath(key: string): string {
    return path.join(this.dir, `${key}.log`);
  }

  private statePath(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  /** Every key with a state file: monitor ids, and RELAY_KEY. */
  keys(): string[] {
    const names = fs.existsSync(this.dir) ? fs.readdirSync(this.dir) : [];
    return names.flatMap((file) =>
      file === `${RELAY_KEY}.json` ? RELAY_KEY : (STATE_FILE_PATTERN.exec(file)?.[1] ?? []),
    );
  }

  /** The key's record; null when there is none, or it does not read as one (logged). */
  read(key: string): ProcessWorkerRecord | null {
    try {
      const record = RECORD.safeParse(JSON.parse(fs.readFileSync(this.statePath(key), 'utf8')));
      if (record.success && record.data.monitorId === key) return record.data;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    }
    this.logger.warn(`ignoring the unreadable worker state file ${this.statePath(key)}`);
    return null;
  }

  /** Atomic: a reader sees the old file or the new one, never half of one. */
  write(record: ProcessWorkerRecord): void {
    const file = this.statePath(record.monitorId);
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(temporary, file);
  }

  /** Removes the state and log, unless they already describe another process of the workload. */
  remove(key: string, pid: number): void {
    if ((this.read(key)?.pid ?? pid) !== pid) return;
    for (const file of [this.statePath(key), this.logPath(key)]) fs.rmSync(file, { force: true });
  }

  /** The last lines of the workload's log. */
  logTail(key: string, lines = LOG_TAIL_LINES): string {
    try {
      return tailLines(fs.readFileSync(this.logPath(key), 'utf8'), lines);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? '' : `(log unavailable: ${(error as Error).message})`;
    }
  }

  /** Cuts a log past LOG_MAX_BYTES back to its last whole lines (a line written meanwhile may be lost). */
  trimLog(key: string): void {
    const file = this.logPath(key);
    if (!fs.existsSync(file) || fs.statSync(file).size <= LOG_MAX_BYTES) return;
    const log = fs.readFileSync(file);
    const from = log.length - LOG_KEEP_BYTES;
    fs.writeFileSync(file, log.subarray(log.indexOf('\n', from) + 1 || from));
  }
}
