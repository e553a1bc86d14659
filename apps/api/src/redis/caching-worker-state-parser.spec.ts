import { encodeWorkerState, WorkerState } from '@pairwatch/contracts';
import { CachingWorkerStateParser } from './caching-worker-state-parser';
import { WorkerStateParser } from './worker-state-parser';

const state: WorkerState = {
  status: 'running',
  lastTickAt: '2026-12-02T10:00:05.000Z',
  lastPrice: '97000.5',
  referencePrice: '97000',
  consecutiveErrors: 0,
  pendingAlerts: 0,
  alertsSent: 3,
  droppedAlerts: 0,
  pid: 7,
  startedAt: '2026-12-02T10:00:00.000Z',
};

const caching = (limit?: number): CachingWorkerStateParser =>
  new CachingWorkerStateParser(new WorkerStateParser(), limit);

describe(CachingWorkerStateParser.name, () => {
  it('answers the same parse for an unchanged hash, and a fresh one once any value changes', () => {
    const parses = caching();
    const first = parses.parse('m1', encodeWorkerState(state));
    expect(first).toEqual({ ok: true, state });
    expect(parses.parse('m1', encodeWorkerState(state))).toBe(first);

    const ticked = parses.parse('m1', encodeWorkerState({ ...state, lastPrice: '97001' }));
    expect(ticked).not.toBe(first);
    expect(ticked).toEqual({ ok: true, state: { ...state, lastPrice: '97001' } });
  });

  it('keeps each monitor apart: the same hash under another id is parsed for that id', () => {
    const parses = caching();
    const one = parses.parse('m1', encodeWorkerState(state));
    const other = parses.parse('m2', encodeWorkerState(state));
    expect(other).not.toBe(one);
    expect(other).toEqual(one);
  });

  it('refuses a hash that breaks the schema every time, and an expired (empty) one', () => {
    const parses = caching();
    const broken = { ...encodeWorkerState(state), status: 'dancing' };
    expect(parses.parse('m1', broken)).toMatchObject({ ok: false, error: expect.stringContaining('status') });
    expect(parses.parse('m1', broken)).toMatchObject({ ok: false });
    expect(parses.parse('m1', {})).toEqual({ ok: false, error: 'no state reported' });
  });

  it('does not take a field moved into another for an unchanged hash', () => {
    const parses = caching();
    const hash = encodeWorkerState({ ...state, lastError: 'HTTP 503' });
    parses.parse('m1', hash);
    const moved = { ...hash, lastError: '', lastPrice: 'HTTP 503' };
    expect(parses.parse('m1', moved)).toMatchObject({ ok: false });
  });

  it('keeps at most `limit` monitors, dropping the least recently changed first', () => {
    const parses = caching(2);
    const first = parses.parse('m1', encodeWorkerState(state));
    parses.parse('m2', encodeWorkerState(state));
    parses.parse('m3', encodeWorkerState(state));
    expect(parses.size).toBe(2);
    // m1 went out, so its next read is a parse of its own.
    expect(parses.parse('m1', encodeWorkerState(state))).not.toBe(first);
    expect(parses.size).toBe(2);
  });

  describe('over the plain parser', () => {
    /** The plain parser, counting what it is asked. */
    const counting = (): { plain: WorkerStateParser; calls: string[] } => {
      const calls: string[] = [];
      const plain = new WorkerStateParser();
      const parse = plain.parse.bind(plain);
      plain.parse = (monitorId, hash) => {
        calls.push(monitorId);
        return parse(monitorId, hash);
      };
      return { plain, calls };
    };

    it('caches: an unchanged hash is parsed once, however often it is read, and answers what the plain one does', () => {
      const { plain, calls } = counting();
      const parser = new CachingWorkerStateParser(plain);
      for (let i = 0; i < 5; i++) {
        expect(parser.parse('m1', encodeWorkerState(state))).toEqual(
          new WorkerStateParser().parse('m1', encodeWorkerState(state)),
        );
      }
      expect(calls).toEqual(['m1']);
    });

    it('invalidates: a changed value, an added or removed field, an expired hash, an eviction each ask the plain one again', () => {
      const { plain, calls } = counting();
      const parser = new CachingWorkerStateParser(plain, 1);
      const hash = encodeWorkerState(state);
      parser.parse('m1', hash);
      parser.parse('m1', { ...hash, lastPrice: '97001' });
      parser.parse('m1', { ...hash, lastPrice: '97001', lastError: 'HTTP 503' });
      parser.parse('m1', hash);
      parser.parse('m1', {});
      parser.parse('m1', {});
      expect(calls).toEqual(['m1', 'm1', 'm1', 'm1', 'm1']);
      parser.parse('m2', hash); // m1 evicted (limit 1)
      parser.parse('m1', {});
      expect(calls).toEqual(['m1', 'm1', 'm1', 'm1', 'm1', 'm2', 'm1']);
    });
  });
});
