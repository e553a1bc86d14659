import { Logger } from '@nestjs/common';
import type { StreamEntry } from './event-stream.repository';
import { EventStreamPort, INGESTION_DEFAULTS, IngestionSink, StreamIngestion } from './stream-ingestion';

async function waitFor(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('StreamIngestion, gathering batches (gatherMs)', () => {
  const logger = new Logger('test');
  let reads: string[][];
  let acked: string[];
  let incoming: StreamEntry[][];
  let stream: EventStreamPort;
  const sink: IngestionSink<string> = {
    noun: 'thing',
    read: (text) => (text ? { ok: true, event: text } : { ok: false, error: 'empty' }),
    key: (event) => event,
    store: (events) => Promise.resolve(new Set(events)),
  };

  beforeEach(() => {
    reads = [];
    acked = [];
    incoming = [];
    stream = {
      keys: { stream: 's', group: 'g', deadLetter: 'd', field: 'event' },
      legacyStream: undefined,
      ensureGroup: jest.fn().mockResolvedValue(undefined),
      legacyExists: jest.fn().mockResolvedValue(false),
      deleteLegacyIfEmpty: jest.fn().mockResolvedValue(false),
      readOwnPending: jest.fn().mockResolvedValue([]),
      readNew: jest.fn(async () => {
        const next = incoming.shift();
        if (next) {
          reads.push(next.map((e) => e.id));
          return next;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
        return [];
      }),
      claimAbandoned: jest.fn().mockResolvedValue(0),
      ack: jest.fn((ids: string[]) => {
        acked.push(...ids);
        return Promise.resolve();
      }),
      deadLetter: jest.fn().mockResolvedValue(undefined),
      trimAcknowledged: jest.fn().mockResolvedValue({ trimmed: 0, capped: 0 }),
    };
  });

  const entries = (...ids: string[]): StreamEntry[] => ids.map((id) => ({ id, event: `e${id}` }));

  it('reads again at once after a full batch, waits after one that was not, and stops during the wait', async () => {
    const ingestion = new StreamIngestion(stream, sink, logger, {
      ...INGESTION_DEFAULTS,
      batchSize: 2,
      gatherMs: 3_600_000,
    });
    incoming.push(entries('1-1', '1-2'), entries('1-3'), entries('1-4'));
    ingestion.start();
    // The full batch is followed by the next read at once (with the hour's gather, the test would time out).
    await waitFor('the second batch acknowledged', () => acked.includes('1-3'));
    // The batch that was not full is stored and acknowledged, then the loop waits: stop() cuts the wait short.
    await ingestion.stop();
    expect(acked).toEqual(['1-1', '1-2', '1-3']);
    expect(reads).toEqual([['1-1', '1-2'], ['1-3']]);
  });

  it('reads again at once without a gather (the alert ingestion)', async () => {
    const ingestion = new StreamIngestion(stream, sink, logger, { ...INGESTION_DEFAULTS, batchSize: 2 });
    incoming.push(entries('2-1'), entries('2-2'), entries('2-3'));
    ingestion.start();
    await waitFor('every batch acknowledged', () => acked.length === 3);
    await ingestion.stop();
    expect(reads).toEqual([['2-1'], ['2-2'], ['2-3']]);
  });

  it('passes a keyed sink each key once, a sink without keys every good event as read, and acks both', async () => {
    const stored: string[][] = [];
    const keyed: IngestionSink<string> = {
      ...sink,
      store: (events) => {
        stored.push(events);
        return Promise.resolve(new Set(events));
      },
    };
    const keyless: IngestionSink<string> = { noun: keyed.noun, read: keyed.read, store: keyed.store };
    const batch = [...entries('3-1', '3-2'), { id: '3-3', event: 'e3-1' }, { id: '3-4', event: undefined }];
    expect(await new StreamIngestion(stream, keyed, logger).handle(batch)).toBe(2);
    expect(await new StreamIngestion(stream, keyless, logger).handle(batch)).toBe(2);
    expect(stored).toEqual([
      ['e3-1', 'e3-2'],
      ['e3-1', 'e3-2', 'e3-1'],
    ]);
    expect(acked).toEqual(['3-1', '3-2', '3-3', '3-1', '3-2', '3-3']);
    expect(stream.deadLetter).toHaveBeenCalledWith([{ entry: batch[3], reason: 'empty' }], 's');
  });
});
