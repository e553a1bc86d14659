import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  ALERT_EVENT_FIELD,
  type AlertEvent,
  ALERTS_CONSUMER_GROUP,
  ALERTS_DEAD_LETTER_STREAM,
  ALERTS_STREAM,
  LEGACY_ALERTS_STREAM,
} from '@pairwatch/contracts';
import type { PublicOf } from '../monitors/testing/monitors-repository.mock';
import type { AlertStreamRepository, StreamEntry } from '../redis/alert-stream.repository';
import { AlertIngestionService } from './alert-ingestion.service';
import type { AlertsRepository } from './alerts.repository';
import { sampleAlertEvent } from './testing/alert-event.fixture';

const event = (): AlertEvent => sampleAlertEvent({ id: randomUUID() });

let entrySeq = 0;
const entry = (value: AlertEvent | string): StreamEntry => ({
  id: `1-${entrySeq++}`,
  event: typeof value === 'string' ? value : JSON.stringify(value),
});

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: Error): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function waitFor(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('AlertIngestionService', () => {
  let stream: jest.Mocked<PublicOf<AlertStreamRepository>>;
  let alerts: jest.Mocked<PublicOf<AlertsRepository>>;
  let service: AlertIngestionService;
  /** What the next XREADGROUP > answers; an empty queue answers nothing after a short BLOCK. */
  let incoming: StreamEntry[][];
  let ownPending: StreamEntry[][];
  let log: jest.SpyInstance;
  /** Every call in order, to check what happened before what. */
  let calls: string[];

  beforeEach(() => {
    incoming = [];
    ownPending = [];
    calls = [];
    const blockBriefly = () => new Promise<void>((resolve) => setTimeout(resolve, 5));
    stream = {
      keys: {
        stream: ALERTS_STREAM,
        group: ALERTS_CONSUMER_GROUP,
        deadLetter: ALERTS_DEAD_LETTER_STREAM,
        field: ALERT_EVENT_FIELD,
        legacy: LEGACY_ALERTS_STREAM,
      },
      legacyStream: LEGACY_ALERTS_STREAM,
      ping: jest.fn().mockResolvedValue(undefined),
      ensureGroup: jest.fn().mockResolvedValue(undefined),
      legacyExists: jest.fn().mockResolvedValue(false),
      deleteLegacyIfEmpty: jest.fn().mockResolvedValue(false),
      readOwnPending: jest.fn((_consumer: string, _count: number) => {
        calls.push('readOwnPending');
        return Promise.resolve(ownPending.shift() ?? []);
      }),
      readNew: jest.fn(async (_consumer: string, _count: number, _blockMs: number) => {
        const next = incoming.shift();
        if (next) {
          calls.push(`readNew ${next.map((e) => e.id).join(',')}`);
          return next;
        }
        await blockBriefly();
        return [];
      }),
      claimAbandoned: jest.fn().mockResolvedValue(0),
      ack: jest.fn((ids: string[]) => {
        calls.push(`ack ${ids.join(',')}`);
        return Promise.resolve();
      }),
      deadLetter: jest.fn().mockResolvedValue(undefined),
      trimAcknowledged: jest.fn().mockResolvedValue({ trimmed: 0, capped: 0 }),
      pendingCount: jest.fn().mockResolvedValue(0),
      close: jest.fn().mockResolvedValue(undefined),
    };
    alerts = {
      insertBatch: jest.fn(),
      byIds: jest.fn(),
      history: jest.fn(),
      countByBucket: jest.fn(),
      firesByRule: jest.fn(),
    };
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    service = new AlertIngestionService(
      stream as unknown as AlertStreamRepository,
      alerts as unknown as AlertsRepository,
    );
  });

  afterEach(async () => {
    await service.onApplicationShutdown();
    jest.restoreAllMocks();
  });

  const alertLines = () =>
    (log.mock.calls as unknown[][])
      .map(([message]) => message)
      .filter((message) => (message as { msg?: string }).msg === 'alert');

  it('acknowledges only once the rows are committed, logs each stored alert once, dead-letters the malformed', async () => {
    const [fresh, known] = [event(), event()];
    const batch = [entry(fresh), entry(known), entry(fresh), entry('{"id":"not-a-uuid"}')];
    incoming.push(batch);
    const commit = deferred<Set<string>>();
    alerts.insertBatch.mockReturnValueOnce(commit.promise);
    service.onApplicationBootstrap();

    await waitFor('the insert', () => alerts.insertBatch.mock.calls.length === 1);
    expect(alerts.insertBatch.mock.calls[0][0]).toEqual([fresh, known]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stream.ack).not.toHaveBeenCalled();
    expect(alertLines()).toEqual([]);

    commit.resolve(new Set([fresh.id])); // `known` was stored before: a duplicate
    await waitFor('the acknowledgement', () => stream.ack.mock.calls.length === 1);
    expect(stream.ack).toHaveBeenCalledWith(
      batch.slice(0, 3).map((e) => e.id),
      ALERTS_STREAM,
    );
    expect(alertLines()).toEqual([{ msg: 'alert', alert: fresh }]);
    await waitFor('the dead letter', () => stream.deadLetter.mock.calls.length > 0);
    expect(stream.deadLetter).toHaveBeenCalledWith(
      [{ entry: batch[3], reason: expect.stringMatching(/id/) }],
      ALERTS_STREAM,
    );
  });

  it('reads the next batch while one is written, and acknowledges in stream order whatever commits first', async () => {
    const first = [entry(event()), entry(event())];
    const second = [entry(event())];
    incoming.push(first, second);
    const commits = [deferred<Set<string>>(), deferred<Set<string>>()];
    alerts.insertBatch
      .mockImplementationOnce((events) => {
        calls.push('insert first');
        return commits[0].promise.then(() => new Set(events.map((e) => e.id)));
      })
      .mockImplementationOnce((events) => {
        calls.push('insert second');
        return commits[1].promise.then(() => new Set(events.map((e) => e.id)));
      });
    service.onApplicationBootstrap();

    await waitFor('both inserts under way', () => alerts.insertBatch.mock.calls.length === 2);
    // The second batch was read while the first was still being written.
    expect(calls.indexOf(`readNew ${second.map((e) => e.id).join(',')}`)).toBeGreaterThan(
      calls.indexOf('insert first'),
    );
    commits[1].resolve(new Set());
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stream.ack).not.toHaveBeenCalled();

    commits[0].resolve(new Set());
    await waitFor('both acknowledgements', () => stream.ack.mock.calls.length === 2);
    expect(calls.filter((c) => c.startsWith('ack'))).toEqual([
      `ack ${first.map((e) => e.id).join(',')}`,
      `ack ${second.map((e) => e.id).join(',')}`,
    ]);
    expect(alertLines()).toHaveLength(3);
  });

  it('after a failed insert, handles its own pending entries again before reading new ones', async () => {
    const alert = event();
    const batch = [entry(alert)];
    incoming.push(batch);
    alerts.insertBatch
      .mockRejectedValueOnce(new Error('connection terminated'))
      .mockResolvedValueOnce(new Set([alert.id]));
    service.onApplicationBootstrap();

    await waitFor('the first insert to fail', () => alerts.insertBatch.mock.calls.length === 1);
    ownPending.push(batch); // still pending at this consumer: nothing acknowledged it
    await waitFor('the retry to be acknowledged', () => stream.ack.mock.calls.length === 1);
    expect(stream.ack).toHaveBeenCalledWith([batch[0].id], ALERTS_STREAM);
    expect(alerts.insertBatch).toHaveBeenCalledTimes(2);
    const failedAt = calls.indexOf(`readNew ${batch[0].id}`);
    expect(calls.indexOf('readOwnPending', failedAt)).toBeGreaterThan(failedAt);
    expect(alertLines()).toEqual([{ msg: 'alert', alert }]);
  });

  it('after an upgrade, drains the stream of the old key names first: every pending entry, then the rest, then deletes it', async () => {
    const [pendingElsewhere, unread, current] = [event(), event(), event()];
    const legacyPending = [entry(pendingElsewhere)];
    const legacyNew = [entry(unread)];
    incoming.push([entry(current)]);
    stream.legacyExists.mockResolvedValueOnce(true);
    stream.claimAbandoned.mockImplementation((_consumer, _idle, _count, from) => {
      calls.push(`claim ${from ?? ALERTS_STREAM}`);
      return Promise.resolve(from === LEGACY_ALERTS_STREAM ? legacyPending.length : 0);
    });
    stream.readOwnPending.mockImplementation((_consumer, _count, from) => {
      calls.push(`readOwnPending ${from ?? ALERTS_STREAM}`);
      return Promise.resolve(
        from === LEGACY_ALERTS_STREAM ? legacyPending.splice(0) : (ownPending.shift() ?? []),
      );
    });
    const readNew = stream.readNew.getMockImplementation()!;
    stream.readNew.mockImplementation((consumer, count, blockMs, from) => {
      if (from !== LEGACY_ALERTS_STREAM) return readNew(consumer, count, blockMs);
      calls.push('readNew legacy');
      return Promise.resolve(legacyNew.splice(0));
    });
    stream.deleteLegacyIfEmpty.mockImplementation(() => {
      calls.push('delete legacy');
      return Promise.resolve(true);
    });
    alerts.insertBatch.mockImplementation((events) => Promise.resolve(new Set(events.map((e) => e.id))));
    service.onApplicationBootstrap();

    await waitFor('the current stream read after the legacy one', () => stream.ack.mock.calls.length === 3);
    expect(stream.claimAbandoned).toHaveBeenCalledWith(
      service.consumer,
      0,
      expect.any(Number),
      LEGACY_ALERTS_STREAM,
    );
    expect(stream.ack.mock.calls).toEqual([
      [[expect.any(String)], LEGACY_ALERTS_STREAM],
      [[expect.any(String)], LEGACY_ALERTS_STREAM],
      [[expect.any(String)], ALERTS_STREAM],
    ]);
    expect(alertLines().map((line) => (line as { alert: AlertEvent }).alert.id)).toEqual([
      pendingElsewhere.id,
      unread.id,
      current.id,
    ]);
    expect(calls.indexOf('claim ' + LEGACY_ALERTS_STREAM)).toBeLessThan(calls.indexOf('readNew legacy'));
    expect(calls.indexOf('delete legacy')).toBeLessThan(calls.findIndex((c) => c.startsWith('readNew 1-')));
  });
});
