import { isatty } from 'node:tty';
import { destination, DestinationStream } from 'pino';
import pinoPretty from 'pino-pretty';

/**
 * The most a single write carries. Lines logged while a write is in flight are queued as buffers and joined up
 * to this by the next write: a burst of alert lines costs a write for every ~150 lines instead of every ~8.
 */
export const LOG_WRITE_BYTES = 64 * 1024;

/**
 * Where the API's log lines go: asynchronous writes to a file descriptor (stdout), through pino's own
 * sonic-boom, which also flushes what is queued when the process exits. A line is handed to the kernel at once
 * when no write is in flight; lines logged while one is wait for the next.
 *
 * Each line is turned into bytes once, as it is logged, and queued as a buffer (sonic-boom's buffer mode).
 * In its text mode sonic-boom joins the queued lines into one string and measures that string's UTF-8 length
 * at every line, so its cost grows with the write's size: at 100,000 alert lines in a few seconds that was
 * about a quarter of the API's CPU for ingestion (docs/BENCHMARKS.md).
 */
export function logDestination(fd = 1, maxWrite = LOG_WRITE_BYTES, pretty = isatty(fd)): LogDestination {
  if (pretty) return prettyDestination(fd);
  const sink = destination({ dest: fd, sync: false, contentMode: 'buffer', maxWrite });
  return {
    // sonic-boom's types name only text; in buffer mode its write takes a Buffer (and only a Buffer).
    write: (line: string) => sink.write(Buffer.from(line) as unknown as string),
    flushSync: () => sink.flushSync(),
  };
}

/**
 * On a terminal, a person reads the lines: one coloured line per entry (time, level, message) with its fields
 * below it, through pino-pretty, written synchronously. Anywhere else (a pipe, a file, a container's log) the
 * lines stay JSON, for machines.
 */
function prettyDestination(fd: number): LogDestination {
  const stream = pinoPretty({
    destination: fd,
    sync: true,
    colorize: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return {
    write: (line: string) => stream.write(line),
    flushSync: () => undefined,
  };
}

export interface LogDestination extends DestinationStream {
  /** Writes everything queued behind the write in flight, synchronously (pino calls it on the sink at exit). */
  flushSync(): void;
}
