import { Logger } from '@nestjs/common';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import DockerClient from 'dockerode';
import type Docker from 'dockerode';
import { LOG_TAIL_LINES, selector, tailLines, workloadOfLabels } from './workload';
import type { AppConfig } from '../config/app.config';
import { RuntimeUnavailableError, Workload, WorkerEvent, WorkerRuntime } from './worker-runtime';

/** What the Docker-backed runtimes (containers and Swarm services) share about talking to an engine. */

/** What both Docker-backed runtimes read of the configuration. */
export type EngineRuntimeConfig = Pick<
  AppConfig,
  'workerImage' | 'workerNetwork' | 'instance' | 'workerLimits'
>;

/** Swarm's label on a task's container naming its service (such containers are the swarm runtime's). */
export const SWARM_SERVICE_LABEL = 'com.docker.swarm.service.id';

/**
 * The base of DockerRuntime and SwarmRuntime: the configuration, the engine's two clients (calls that time
 * out, and the event stream, which must not), and calls whose errors say whether the engine can work at all.
 */
export abstract class EngineRuntime extends WorkerRuntime {
  protected readonly logger = new Logger(this.constructor.name);

  constructor(
    protected readonly config: EngineRuntimeConfig,
    protected readonly docker: Docker,
    /** Follows the event stream (default: the same client). */
    protected readonly events: Docker = docker,
  ) {
    super();
  }

  protected call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return engineCall(what, fn, this.logger);
  }

  protected translate(what: string, error: unknown): Error {
    return translateEngineError(what, error, this.logger);
  }
}

interface DockerError {
  statusCode?: number;
  code?: string;
  message?: string;
}

export function statusOf(error: unknown): number | undefined {
  return (error as DockerError | null)?.statusCode;
}

/** Connection-level failures (socket missing, refused, reset, timed out) mean the engine is unreachable. */
const UNREACHABLE_CODES = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EACCES',
  'EHOSTUNREACH',
]);

export function isUnreachable(error: unknown): boolean {
  const code = (error as DockerError | null)?.code;
  return statusOf(error) === undefined && code !== undefined && UNREACHABLE_CODES.has(code);
}

/** Turns an engine error into RuntimeUnavailableError when the engine cannot do the work at all. */
export function translateEngineError(what: string, error: unknown, logger?: Logger): Error {
  if (error instanceof RuntimeUnavailableError) return error;
  const message = (error as DockerError | null)?.message ?? String(error);
  if (isUnreachable(error)) {
    logger?.warn(`could not ${what}: Docker engine unreachable (${message})`);
    return new RuntimeUnavailableError(`Docker engine unreachable: could not ${what} (${message})`);
  }
  const status = statusOf(error);
  if (status !== undefined && status >= 500) {
    return new RuntimeUnavailableError(`Docker engine failed to ${what}: ${message}`);
  }
  return error instanceof Error ? error : new Error(message);
}

export async function engineCall<T>(what: string, fn: () => Promise<T>, logger?: Logger): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw translateEngineError(what, error, logger);
  }
}

/** An engine that accepts a request and never answers fails the call after this long (answered as 503). */
export const ENGINE_CALL_TIMEOUT_MS = 20_000;

/**
 * Two clients for one engine (DOCKER_HOST and friends are read by docker-modem, as the docker CLI does):
 * calls time out, so a hung engine cannot hang a request; the event stream, idle for long stretches, does not.
 */
export function engineClients(timeoutMs = ENGINE_CALL_TIMEOUT_MS): { calls: Docker; events: Docker } {
  return { calls: new DockerClient({ timeout: timeoutMs }), events: new DockerClient() };
}

/** Where a client connects (DOCKER_HOST as docker-modem read it, or the default socket it finds), for messages. */
export async function engineEndpoint(docker: Docker): Promise<string> {
  const { socketPath, protocol, host, port } = docker.modem as unknown as Record<string, unknown>;
  const socket: unknown =
    typeof socketPath === 'function' ? await (socketPath as () => unknown)() : socketPath;
  if (typeof socket === 'string') return `unix://${socket}`;
  const scheme = typeof protocol === 'string' ? protocol : 'http';
  return `${scheme}://${typeof host === 'string' ? host : 'localhost'}:${Number(port)}`;
}

/** Label filter values for a list or events call. */
export function labelFilter(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}

/**
 * Splits the multiplexed log stream of a container without a TTY (8-byte frame headers: stream, 3 zero
 * bytes, big-endian length) into text. A buffer with no valid header is taken as plain text.
 */
export function demuxLogs(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    if (stream > 2 || buffer[offset + 1] !== 0 || offset + 8 + size > buffer.length) {
      return buffer.toString('utf8');
    }
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return offset === 0 && buffer.length > 0 ? buffer.toString('utf8') : Buffer.concat(parts).toString('utf8');
}

/** The last lines of a container's (or task's) log as the engine answers it: a buffer or a string. */
export function containerLogTail(raw: unknown): string {
  const buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(typeof raw === 'string' ? raw : '');
  return tailLines(demuxLogs(buffer), LOG_TAIL_LINES);
}

/**
 * The last lines of a container's or a task's log (dockerode's logs()), bounded in time; what failed instead
 * when they cannot be read (`gone` when the engine says there is no such thing any more).
 */
export async function readLogTail(
  source: { logs(options: object): Promise<unknown> },
  gone?: string,
  note = '',
): Promise<string> {
  try {
    const options = { stdout: true, stderr: true, follow: false, tail: LOG_TAIL_LINES };
    return containerLogTail(await source.logs({ ...options, abortSignal: AbortSignal.timeout(5000) }));
  } catch (error) {
    if (gone !== undefined && statusOf(error) === 404) return gone;
    return `(logs unavailable: ${(error as Error).message}${note})`;
  }
}

const EVENT_KINDS: Record<string, WorkerEvent['kind']> = {
  die: 'exit',
  destroy: 'removed',
  start: 'started',
};

/**
 * Follows the engine's container events of this installation's workloads (followEngineEvents): each one
 * that names a workload (by its labels) is handed on with the kind it is.
 */
export function followWorkloadEvents(
  docker: Docker,
  instance: string,
  onEvent: (kind: WorkerEvent['kind'], workload: Workload, event: EngineEvent) => void,
  logger: Logger,
  onConnection?: (connected: boolean) => void,
  onAny?: (event: EngineEvent) => void,
): () => void {
  const filters = {
    type: ['container'],
    event: Object.keys(EVENT_KINDS),
    label: labelFilter(selector(instance)),
  };
  const handle = (event: EngineEvent) => {
    onAny?.(event);
    const kind = EVENT_KINDS[event.Action ?? event.status ?? ''];
    const workload = workloadOfLabels(event.Actor?.Attributes);
    if (kind && workload) onEvent(kind, workload, event);
  };
  return followEngineEvents(docker, filters, handle, logger, onConnection);
}

/** The instant of an engine event in nanoseconds, when it says. */
export function eventNanos(event: EngineEvent): number | undefined {
  return event.timeNano ?? (event.time !== undefined ? event.time * 1e9 : undefined);
}

/** Inspects WORKER_IMAGE; RuntimeUnavailableError naming the image when the engine does not have it. */
export async function inspectWorkerImage(
  docker: Docker,
  image: string,
  logger?: Logger,
): Promise<Docker.ImageInspectInfo> {
  try {
    return await docker.getImage(image).inspect();
  } catch (error) {
    if (statusOf(error) === 404) {
      throw new RuntimeUnavailableError(
        `worker image ${image} is not present on the Docker engine; build it with "npm run images"`,
      );
    }
    throw translateEngineError('inspect the worker image', error, logger);
  }
}

export interface EngineEvent {
  Type?: string;
  Action?: string;
  status?: string;
  time?: number;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * Follows the engine's event stream with the given filters, one JSON object per line (never one chunk =
 * one object), and reconnects with exponential backoff and jitter when the stream ends or fails,
 * asking for the events it missed with `since`. Returns a function that stops following.
 */
export function followEngineEvents(
  docker: Docker,
  filters: Record<string, string[]>,
  onEvent: (event: EngineEvent) => void,
  logger: Logger,
  /** Told true when the stream is open, false when it ended or failed (events may be missed until true). */
  onConnection?: (connected: boolean) => void,
): () => void {
  let stopped = false;
  let stream: Readable | undefined;
  let timer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let since: number | undefined;

  const schedule = () => {
    onConnection?.(false);
    if (stopped || timer) return;
    stream = undefined;
    const delay = Math.round(Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random() / 2));
    attempt += 1;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
  };

  const connect = async () => {
    if (stopped) return;
    try {
      const opened = (await docker.getEvents({
        filters,
        ...(since !== undefined ? { since } : {}),
      })) as unknown as Readable;
      if (stopped) {
        opened.destroy();
        return;
      }
      if (attempt > 0) logger.log('following the Docker event stream again');
      attempt = 0;
      stream = opened;
      onConnection?.(true);
      const lines = createInterface({ input: opened, crlfDelay: Infinity });
      lines.on('line', (line) => {
        if (line.trim() === '') return;
        let event: EngineEvent;
        try {
          event = JSON.parse(line) as EngineEvent;
        } catch {
          logger.warn(`ignoring a Docker event line that is not JSON: ${line.slice(0, 200)}`);
          return;
        }
        if (typeof event.time === 'number') since = event.time;
        onEvent(event);
      });
      // readline re-emits the input's errors on the interface: without a listener there, a connection to
      // the engine cut mid-stream ("aborted", ECONNRESET) would be an uncaught error and end the process.
      lines.on('error', () => undefined);
      opened.on('error', (error: Error) => {
        if (!stopped) logger.warn(`Docker event stream failed: ${error.message}`);
      });
      opened.once('close', schedule);
    } catch (error) {
      if (attempt === 0) logger.warn(`cannot follow Docker events: ${(error as Error).message}; retrying`);
      schedule();
    }
  };

  void connect();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    stream?.destroy();
    onConnection?.(false);
  };
}
