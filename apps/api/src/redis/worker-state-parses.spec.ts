import { encodeWorkerState, WorkerState } from '@pairwatch/contracts';
import { WorkerStateParses } from './worker-state-parses';

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

describe(WorkerStateParses.name, () => {
  it('answers the same parse for an unchanged hash, and a fresh one once any value changes', () => {
    const parses = new WorkerStateParses();
    const first = parses.parse('m1', encodeWorkerState(state));
    expect(first).toEqual({ ok: true, state });
    expect(parses.parse('m1', encodeWorkerState(state))).toBe(first);

    const ticked = parses.parse('m1', encodeWorkerState({ ...state, lastPrice: '97001' }));
    expect(ticked).not.toBe(first);
    expect(ticked).toEqual({ ok: true, state: { ...state, lastPrice: '97001' } });
  });

  it('keeps each monitor apart: the same hash under another id is parsed for that id', () => {
    const parses = new WorkerStateParses();
    const one = parses.parse('m1', encodeWorkerState(state));
    const other = parses.parse('m2', encodeWorkerState(state));
    expect(other).not.toBe(one);
    expect(other).toEqual(one);
  });

  it('refuses a hash that breaks the schema every time, and an expired (empty) one', () => {
    const parses = new WorkerStateParses();
    const broken = { ...encodeWorkerState(state), status: 'dancing' };
    expect(parses.parse('m1', broken)).toMatchObject({ ok: false, error: expect.stringContaining('status') });
    expect(parses.parse('m1', broken)).toMatchObject({ ok: false });
    expect(parses.parse('m1', {})).toEqual({ ok: false, error: 'no state reported' });
  });

  it('does not take a field moved into another for an unchanged hash', () => {
    const parses = new WorkerStateParses();
    const hash = encodeWorkerState({ ...state, lastError: 'HTTP 503' });
    parses.parse('m1', hash);
    const moved = { ...hash, lastError: '', lastPrice: 'HTTP 503' };
    expect(parses.parse('m1', moved)).toMatchObject({ ok: false });
  });

  it('keeps at most `limit` monitors, dropping the least recently changed first', () => {
    const parses = new WorkerStateParses(2);
    const first = parses.parse('m1', encodeWorkerState(state));
    parses.parse('m2', encodeWorkerState(state));
    parses.parse('m3', encodeWorkerState(state));
    expect(parses.size).toBe(2);
    // m1 went out, so its next read is a parse of its own.
    expect(parses.parse('m1', encodeWorkerState(state))).not.toBe(first);
    expect(parses.size).toBe(2);
  });
});
