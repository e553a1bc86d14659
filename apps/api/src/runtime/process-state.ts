import { Logger } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { LOG_TAIL_LINES, STATE_FILE_PATTERN, tailLines } from './workload';
import { RELAY_KEY } from './worker-runtime';

/**
 * The process runtime's state: one `<key>.json` (and the workload's `<key>.log`) per workload in a directory,
 * where a restarted API or `npm run down` finds the workloads again. A file that does not read as a record is
 * ignored.
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

/** What a workload's state file holds: enough to find it again after an API restart, and to know it is ours. */
export type ProcessWorkerRecord = z.infer<typeof RECORD>;

/** A log file is cut back to its last LOG_KEEP_BYTES when it grows past LOG_MAX_BYTES. */
const LOG_MAX_BYTES = 1024 * 1024;
const LOG_KEEP_BYTES = 64 * 1024;

/** The last lines of a log file, read from its last 64 kB. */
export function readLogTail(file: string, lines: number = LOG_TAIL_LINES): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, LOG_KEEP_BYTES);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    let text = buffer.toString('utf8');
    if (length < size) text = text.slice(text.indexOf('\n') + 1); // drop the cut first line
    return tailLines(text, lines);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? '' : `(log unavailable: ${(error as Error).message})`;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

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
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return names.flatMap((file) =>
      file === `${RELAY_KEY}.json` ? RELAY_KEY : (STATE_FILE_PATTERN.exec(file)?.[1] ?? []),
    );
  }

  /** The key's record; null when there is none or it does not read as one (logged). */
  read(key: string): ProcessWorkerRecord | null {
    let text: string;
    try {
      text = fs.readFileSync(this.statePath(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const record = RECORD.safeParse(JSON.parse(text));
      if (record.success && record.data.monitorId === key) return record.data;
    } catch {
      // not JSON
    }
    this.logger.warn(`ignoring the unreadable worker state file ${this.statePath(key)}`);
    return null;
  }

  /** read(), with anything that cannot be read taken as no record. */
  readQuietly(key: string): ProcessWorkerRecord | null {
    try {
      return this.read(key);
    } catch {
      return null;
    }
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
    const onDisk = this.readQuietly(key);
    if (onDisk && onDisk.pid !== pid) return;
    try {
      for (const file of [this.statePath(key), this.logPath(key)]) fs.rmSync(file, { force: true });
    } catch (error) {
      this.logger.warn(`could not remove the files of workload ${key}: ${(error as Error).message}`);
    }
  }

  /** Cuts a log past LOG_MAX_BYTES back to its last lines (a line or two written meanwhile may be lost). */
  trimLog(key: string): void {
    const file = this.logPath(key);
    try {
      if (fs.statSync(file).size <= LOG_MAX_BYTES) return;
      fs.writeFileSync(file, `${readLogTail(file, Number.MAX_SAFE_INTEGER)}\n`);
    } catch {
      // gone meanwhile
    }
  }
}
