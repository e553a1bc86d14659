import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import {
  ALERTS_STREAM,
  keyHashSlot,
  legacyMoveRule,
  parsePriceTick,
  PRICE_TICK_FIELD,
  type PriceTick,
  ruleStateKey,
  standaloneRedis,
  TICKS_STREAM,
  workerPricesKey,
  type WorkerSettings,
} from '@pairwatch/contracts';
import {
  OutcomeUnknownError,
  type RedisCommand,
  type RedisTransactions,
  type Replication,
  type TickStreamPage,
} from '../alert-publisher';
import type { RelayUpstream } from '../relay/ticker-relay';
import type { ListEntry, ListResult, TickerResult, TickerSource } from '../uphold-ticker.client';
import { createWorkerLogger } from '../worker.logger';

/** Test doubles for the worker's unit specs. Nothing here touches the network. */

export const MONITOR_ID = '3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f';

export function workerSettings(overrides: Partial<WorkerSettings> = {}): WorkerSettings {
  return {
    monitorId: MONITOR_ID,
    pair: 'BTC-USD',
    intervalMs: 1000,
    rules: [legacyMoveRule({ thresholdPercent: '1' })],
    upholdApiUrl: 'http://127.0.0.1:9',
    redis: standaloneRedis('redis://:s3cret@127.0.0.1:6379'),
    requestTimeoutMs: 500,
    stateTtlMs: 15_000,
    maxPendingAlerts: 10_000,
    priceHistoryMs: 3_600_000,
    logLevel: 'debug',
    ...overrides,
  };
}

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A real pino logger writing into an array of parsed lines. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n'))
        if (text) lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  return {
    logger: createWorkerLogger({ level, monitorId: MONITOR_ID, pair: 'BTC-USD', destination }),
    lines,
  };
}

/** Redis that records every transaction and fails while `failWith` is set. */
export class FakeRedis implements RedisTransactions {
  readonly transactions: RedisCommand[][] = [];
  readonly attempts: RedisCommand[][] = [];
  failWith: Error | undefined;
  closed = false;

  /** Markers of execOnce: the commands ran with each. */
  readonly markers = new Set<string>();
  /**
   * The next execOnce runs (and sets its marker), then rejects with OutcomeUnknownError: a send whose answer was
   * lost, as ioredis' command timeout on a starved event loop makes one.
   */
  loseNextAnswer = false;

  /** What WAIT and ROLE answer after each execOnceWait; all replicas by default. */
  replication: Replication = { acknowledged: 2, connected: 2 };
  readonly waits: Array<{ replicas: number; timeoutMs: number }> = [];

  multiExec(commands: RedisCommand[]): Promise<void> {
    this.attempts.push(commands);
    // As Redis Cluster would: a MULTI whose keys are in two hash slots is refused (CROSSSLOT).
    const slots = new Set(
      commands.filter(([name]) => name !== 'publish').map(([, key]) => keyHashSlot(String(key))),
    );
    if (slots.size > 1) {
      return Promise.reject(
        new Error(`CROSSSLOT: ${commands.map(([name, key]) => `${name} ${key}`).join(', ')}`),
      );
    }
    if (this.failWith) return Promise.reject(this.failWith);
    this.transactions.push(commands);
    return Promise.resolve();
  }

  /** Hashes a test put there beforehand (a previous worker's rule state), by key. */
  readonly hashes = new Map<string, Record<string, string>>();

  /** A hash as stored beforehand, with every HSET since applied. */
  hgetall(key: string): Promise<Record<string, string>> {
    if (this.failWith) return Promise.reject(this.failWith);
    const hash = { ...(this.hashes.get(key) ?? {}) };
    for (const command of this.transactions.flat()) {
      if (command[0] !== 'hset' || command[1] !== key) continue;
      for (let i = 2; i < command.length; i += 2) hash[String(command[i])] = String(command[i + 1]);
    }
    return Promise.resolve(hash);
  }

  /** Strings a test put there beforehand, by key, with every SET since applied. */
  readonly strings = new Map<string, string>();

  get(key: string): Promise<string | null> {
    if (this.failWith) return Promise.reject(this.failWith);
    let value = this.strings.get(key) ?? null;
    for (const command of this.transactions.flat()) {
      if (command[0] === 'set' && command[1] === key) value = String(command[2]);
    }
    return Promise.resolve(value);
  }

  /** Entries a test put in a stream beforehand (ticks a previous worker stored), by key. */
  readonly stored = new Map<string, string[][]>();

  /** Every XRANGE asked, in order. */
  readonly xranges: Array<{ key: string; start: string; count: number }> = [];

  /**
   * XRANGE key start + COUNT count over the entries stored beforehand, then those XADDed since; the n-th has the
   * id `n-0`. A start `(id` gives the entries after that id, as Redis does; any other start gives them all from the
   * first (the ids here are positions, not times: the publisher filters the ticks by their own `at` anyway).
   */
  xrange(key: string, start: string, count: number): Promise<Array<[string, string[]]>> {
    this.xranges.push({ key, start, count });
    if (this.failWith) return Promise.reject(this.failWith);
    return Promise.resolve(this.entries(key, start, count));
  }

  /** {@link xrange} answered as the real page script answers it (IoRedisTransactions.readTickPage). */
  async readTickPage(key: string, start: string, count: number): Promise<TickStreamPage> {
    const entries = await this.xrange(key, start, count);
    const lastId = entries.length > 0 ? entries[entries.length - 1][0] : '';
    const simple = entries.every(
      ([, fields]) => fields.length === 2 && fields[0] === PRICE_TICK_FIELD && !fields[1].includes('\n'),
    );
    if (!simple) return { count: entries.length, lastId, entries };
    return { count: entries.length, lastId, values: entries.map(([, fields]) => fields[1]).join('\n') };
  }

  private entries(key: string, start: string, count: number): Array<[string, string[]]> {
    const written = this.transactions
      .flat()
      .filter(([name, k]) => name === 'xadd' && k === key)
      .map((command) => command.slice(command.indexOf('*') + 1).map(String));
    const after = start.startsWith('(') ? Number(start.slice(1).split('-')[0]) : 0;
    return [...(this.stored.get(key) ?? []), ...written]
      .map((fields, i): [string, string[]] => [`${i + 1}-0`, fields])
      .slice(after, after + count);
  }

  /** As the script does: nothing when the marker is there, else the commands (as a MULTI here), then the marker. */
  async execOnce(marker: string, _markerTtlMs: number, commands: RedisCommand[]): Promise<boolean> {
    if (this.failWith) return Promise.reject(this.failWith);
    if (this.markers.has(marker)) return false;
    await this.multiExec(commands);
    this.markers.add(marker);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw new OutcomeUnknownError(new Error('Command timed out'));
    }
    return true;
  }

  async execOnceWait(
    marker: string,
    markerTtlMs: number,
    commands: RedisCommand[],
    replicas: number,
    timeoutMs: number,
  ): Promise<Replication & { ran: boolean }> {
    const ran = await this.execOnce(marker, markerTtlMs, commands);
    this.waits.push({ replicas, timeoutMs });
    return { ...this.replication, ran };
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** The JSON events XADDed to the alerts stream, in order. */
  streamEvents(): Array<Record<string, unknown>> {
    return this.transactions
      .flat()
      .filter(([name, key]) => name === 'xadd' && key === ALERTS_STREAM)
      .map((command) => JSON.parse(String(command[4])) as Record<string, unknown>);
  }

  /** The ticks XADDed to the monitor's price stream, in order, as the API parses them. */
  priceTicks(monitorId = MONITOR_ID): PriceTick[] {
    return this.transactions
      .flat()
      .filter(([name, key]) => name === 'xadd' && key === workerPricesKey(monitorId))
      .map((command) => {
        const parsed = parsePriceTick(command.slice(command.indexOf('*') + 1).map(String));
        if (!parsed.ok) throw new Error(parsed.error);
        return parsed.tick;
      });
  }

  /** The tick events XADDed to the ticks stream (the archive's), in order. */
  tickEvents(): Array<Record<string, unknown>> {
    return this.transactions
      .flat()
      .filter(([name, key]) => name === 'xadd' && key === TICKS_STREAM)
      .map((command) => JSON.parse(String(command[4])) as Record<string, unknown>);
  }

  /** The last state hash written, as an object. */
  lastState(): Record<string, string> | undefined {
    const hset = this.transactions
      .flat()
      .filter(([name, key]) => name === 'hset' && !String(key).startsWith(ruleStateKey('')))
      .pop();
    if (!hset) return undefined;
    const fields: Record<string, string> = {};
    for (let i = 2; i < hset.length; i += 2) fields[String(hset[i])] = String(hset[i + 1]);
    return fields;
  }
}

/**
 * A ticker answering from a script: each call takes the next entry; once the script runs out, the last
 * entry taken repeats. An entry is a result, or a function of the abort signal (for requests that take
 * time).
 */
export class ScriptedTicker implements TickerSource {
  readonly calls: Array<{ pair: string; signal?: AbortSignal }> = [];
  private readonly script: Array<TickerResult | ((signal?: AbortSignal) => Promise<TickerResult>)>;
  private last: TickerResult | ((signal?: AbortSignal) => Promise<TickerResult>) | undefined;

  constructor(...script: Array<TickerResult | ((signal?: AbortSignal) => Promise<TickerResult>)>) {
    this.script = script;
  }

  push(...entries: Array<TickerResult | ((signal?: AbortSignal) => Promise<TickerResult>)>): void {
    this.script.push(...entries);
  }

  fetchTicker(pair: string, signal?: AbortSignal): Promise<TickerResult> {
    this.calls.push({ pair, signal });
    const entry = this.script.shift() ?? this.last;
    if (entry === undefined) throw new Error('ScriptedTicker has no script');
    this.last = entry;
    return typeof entry === 'function' ? entry(signal) : Promise.resolve(entry);
  }
}

export const quote = (ask: string, bid = ask): TickerResult => ({ kind: 'quote', ask, bid });

/** An Uphold stand-in at the relay's door: lists and pair answers set per test, every call recorded. */
export class FakeUpstream implements RelayUpstream {
  readonly calls: string[] = [];
  lists = new Map<string, ListResult>();
  pairs = new Map<string, TickerResult>();
  /** While set, calls wait for it: lets a test hold requests in flight. */
  gate: Promise<void> | undefined;

  async fetchList(currency: string): Promise<ListResult> {
    this.calls.push(`list:${currency}`);
    await this.gate;
    return this.lists.get(currency) ?? { kind: 'unknown-pair' };
  }

  async fetchTicker(pair: string): Promise<TickerResult> {
    this.calls.push(`pair:${pair}`);
    await this.gate;
    return this.pairs.get(pair) ?? { kind: 'unknown-pair' };
  }
}

export const entry = (pair: string, currency: string, ask = '100.5', bid = '100.4'): ListEntry => ({
  pair,
  currency,
  ask,
  bid,
});
export const list = (...entries: ListEntry[]): ListResult => ({ kind: 'list', entries });
