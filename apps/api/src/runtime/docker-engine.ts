import { Logger } from '@nestjs/common';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import DockerClient from 'dockerode';
import type Docker from 'dockerode';
import {
  computeSpecHash,
  fromLabels,
  keyValueLines,
  LOG_TAIL_LINES,
  selector,
  tailLines,
  workloadPolicy,
} from './workload';
import type { AppConfig } from '../config/app.config';
import {
  LABELS,
  RuntimeUnavailableError,
  Workload,
  WorkloadSpec,
  WorkerEvent,
  WorkerExit,
  WorkerRuntime,
  workloadOfInfo,
} from './worker-runtime';

/** What both Docker-backed runtimes read of the configuration. */
export type EngineRuntimeConfig = Pick<
  AppConfig,
  'workerImage' | 'workerNetwork' | 'instance' | 'workerLimits'
>;

/** Swarm's labels on a task's container, naming its service and its task (such containers are Swarm's). */
export const SWARM_SERVICE_LABEL = 'com.docker.swarm.service.id';
export const SWARM_TASK_LABEL = 'com.docker.swarm.task.id';

/** WORKER_IMAGE is inspected at most this often (every spec hash needs its id); a re-tag is seen within it. */
const IMAGE_TTL_MS = 2000;

const EVENT_KINDS: Record<string, WorkerEvent['kind']> = {
  die: 'exit',
  destroy: 'removed',
  start: 'started',
};

/**
 * The base of DockerRuntime and SwarmRuntime: the engine's two clients (calls time out, the event stream does
 * not), the worker image, label filters, events, and engine errors as RuntimeUnavailableError where due.
 */
export abstract class EngineRuntime extends WorkerRuntime {
  protected readonly logger = new Logger(this.constructor.name);
  private imageLookup: { at: number; info: Promise<Docker.ImageInspectInfo> } | undefined;

  constructor(
    protected readonly config: EngineRuntimeConfig,
    protected readonly docker: Docker,
    protected readonly events: Docker = docker,
  ) {
    super();
  }

  async ping(): Promise<void> {
    await this.call('reach the Docker engine', () => this.docker.ping());
  }

  async ensureReady(): Promise<void> {
    await this.ping();
    await this.image();
  }

  async specHash(spec: WorkloadSpec): Promise<string> {
    return computeSpecHash((await this.image()).Id, spec, workloadPolicy(this.config, spec.role));
  }

  /** Every installation with workloads here, this one's or not: what `npm run down -- --all` stops. */
  async instances(): Promise<string[]> {
    const labels = await this.everyInstallationsLabels();
    return [...new Set(labels.map((l) => l?.[LABELS.instance]).filter((i): i is string => !!i))];
  }

  protected abstract everyInstallationsLabels(): Promise<(Record<string, string> | undefined)[]>;

  /** WORKER_IMAGE on the engine (concurrent askers share one lookup; a failed one is not kept). */
  protected image(): Promise<Docker.ImageInspectInfo> {
    if (this.imageLookup && Date.now() - this.imageLookup.at < IMAGE_TTL_MS) return this.imageLookup.info;
    const lookup = { at: Date.now(), info: this.inspectImage() };
    lookup.info.catch(() => {
      if (this.imageLookup === lookup) this.imageLookup = undefined;
    });
    return (this.imageLookup = lookup).info;
  }

  private async inspectImage(): Promise<Docker.ImageInspectInfo> {
    const image = this.config.workerImage;
    try {
      return await this.docker.getImage(image).inspect();
    } catch (error) {
      if (statusOf(error) !== 404) throw this.translate('inspect the worker image', error);
      throw new RuntimeUnavailableError(
        `worker image ${image} is not present on the Docker engine; build it with "npm run images"`,
      );
    }
  }

  /** The filter of this installation's workloads with these labels (of every installation's, if not `own`). */
  protected filters(labels: Record<string, string> = {}, own = true): { label: string[] } {
    const base = own ? selector(this.config.instance) : { [LABELS.managed]: 'true' };
    return { label: keyValueLines({ ...base, ...labels }) };
  }

  /** pairwatch's containers with these labels, of this installation unless `own` is false. */
  protected listContainers(labels: Record<string, string>, own = true): Promise<Docker.ContainerInfo[]> {
    const filters = this.filters(labels, own);
    return this.call('list worker containers', () => this.docker.listContainers({ all: true, filters }));
  }

  /** An engine call; its error as RuntimeUnavailableError when the engine cannot do the work at all. */
  protected async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.translate(what, error);
    }
  }

  /** Runs `fn`; an engine error with one of `ok` statuses (already stopped, already gone) is success. */
  protected async tolerating(what: string, ok: number[], fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (!ok.includes(statusOf(error) ?? 0)) throw this.translate(what, error);
    }
  }

  protected translate(what: string, error: unknown): Error {
    return translateEngineError(what, error, this.logger);
  }

  /** Follows this installation's container events (followEngineEvents); each naming a workload is handed on. */
  protected followEvents(
    onEvent: (kind: WorkerEvent['kind'], workload: Workload, event: EngineEvent) => void,
  ) {
    const filters = { type: ['container'], event: Object.keys(EVENT_KINDS), ...this.filters() };
    const handle = (event: EngineEvent) => {
      this.sawEvent(event);
      const kind = EVENT_KINDS[event.Action ?? event.status ?? ''];
      const labels = fromLabels(event.Actor?.Attributes ?? {}); // a worker's names its monitor, or no workload
      if (kind && (labels.role === 'relay' || labels.monitorId)) onEvent(kind, workloadOfInfo(labels), event);
    };
    return followEngineEvents(this.events, filters, handle, this.logger, (live) => this.connected(live));
  }

  /** For CachingDockerRuntime: the stream is followed now (true), or not (false: events may be missed). */
  protected connected(_live: boolean): void {}

  /** For CachingDockerRuntime: every event of the stream, whether it names a workload or not. */
  protected sawEvent(_event: EngineEvent): void {}
}

export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number } | null)?.statusCode;
}

/** Connection-level failures (socket missing, refused, reset, timed out) mean the engine is unreachable. */
const UNREACHABLE = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EACCES',
  'EHOSTUNREACH',
]);

/** An engine error as RuntimeUnavailableError when the engine cannot do the work at all (unreachable, 5xx). */
function translateEngineError(what: string, error: unknown, logger: Logger): Error {
  if (error instanceof RuntimeUnavailableError) return error;
  const { code, message = String(error) } = (error ?? {}) as { code?: string; message?: string };
  const status = statusOf(error);
  if (status === undefined && code !== undefined && UNREACHABLE.has(code)) {
    logger.warn(`could not ${what}: Docker engine unreachable (${message})`);
    return new RuntimeUnavailableError(`Docker engine unreachable: could not ${what} (${message})`);
  }
  if (status !== undefined && status >= 500) {
    return new RuntimeUnavailableError(`Docker engine failed to ${what}: ${message}`);
  }
  return error instanceof Error ? error : new Error(message);
}

/**
 * Two clients for one engine (DOCKER_HOST and friends are read by docker-modem, as the docker CLI does):
 * calls time out (20 s: a hung engine is a 503, not a hung request); the event stream, idle for long, does not.
 */
export function engineClients(timeoutMs = 20_000): { calls: Docker; events: Docker } {
  return { calls: new DockerClient({ timeout: timeoutMs }), events: new DockerClient() };
}

/**
 * Splits the multiplexed log stream of a container without a TTY (8-byte frame headers: stream, 3 zero
 * bytes, big-endian length) into text. A buffer with no valid header is taken as plain text.
 */
export function demuxLogs(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    if (buffer[offset] > 2 || buffer[offset + 1] !== 0 || offset + 8 + size > buffer.length) {
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
 * The last lines of a container's or a task's log, bounded in time; what failed instead when they cannot be
 * read (`gone` when the engine says there is no such thing any more).
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

/** The instant of an engine event in nanoseconds, when it says. */
export function eventNanos(event: EngineEvent): number | undefined {
  return event.timeNano ?? (event.time !== undefined ? event.time * 1e9 : undefined);
}

/** A die event's exit, the same for every API replica that sees it (no log tail: the caller reads it). */
export function exitOfEvent(
  event: EngineEvent,
  workload: Workload,
  identity: Pick<WorkerExit, 'workerId' | 'key'>,
): WorkerExit {
  const nanos = eventNanos(event);
  const code = Number(event.Actor?.Attributes?.exitCode);
  return {
    workload,
    ...identity,
    exitCode: Number.isInteger(code) ? code : null,
    exitedAt: nanos !== undefined ? new Date(Math.floor(nanos / 1e6)) : new Date(),
    logTail: '',
  };
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
  onConnection?: (connected: boolean) => void,
): () => void {
  let stopped = false;
  let stream: Readable | undefined;
  let timer: NodeJS.Timeout | undefined;
  let since: number | undefined;
  const follow = async (attempt: number): Promise<void> => {
    try {
      stream = (await docker.getEvents({ filters, ...(since !== undefined ? { since } : {}) })) as Readable;
      if (stopped) return void stream.destroy();
      if (attempt > 0) logger.log('following the Docker event stream again');
      attempt = 0;
      onConnection?.(true);
      for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
        if (line.trim() === '') continue;
        let event: EngineEvent;
        try {
          event = JSON.parse(line) as EngineEvent;
        } catch {
          logger.warn(`ignoring a Docker event line that is not JSON: ${line.slice(0, 200)}`);
          continue;
        }
        if (typeof event.time === 'number') since = event.time;
        onEvent(event);
      }
    } catch (error) {
      const { message } = error as Error;
      if (stream && !stopped) logger.warn(`Docker event stream failed: ${message}`);
      if (!stream && attempt === 0) logger.warn(`cannot follow Docker events: ${message}; retrying`);
    }
    stream?.destroy(); // ended, failed, or a listener threw: a new stream follows
    stream = undefined;
    onConnection?.(false);
    if (stopped) return;
    const delay = Math.round(Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random() / 2));
    timer = setTimeout(() => void follow(attempt + 1), delay);
  };
  void follow(0);
  return () => {
    stopped = true;
    clearTimeout(timer);
    stream?.destroy();
    onConnection?.(false);
  };
}
