import { encodeWorkerState, parseWorkerState, WorkerState } from './worker-state';

const full: WorkerState = {
  status: 'running',
  lastTickAt: '2026-12-01T20:00:01.000Z',
  lastPrice: '63120.45',
  referencePrice: '63100.00',
  consecutiveErrors: 0,
  pendingAlerts: 2,
  alertsSent: 17,
  droppedAlerts: 0,
  pid: 4321,
  startedAt: '2026-12-01T19:59:00.000Z',
};

describe('worker state hash', () => {
  it('round-trips through the hash the worker writes', () => {
    const hash = encodeWorkerState({ ...full, lastError: 'HTTP 503' });
    expect(Object.values(hash).every((v) => typeof v === 'string')).toBe(true);
    expect(parseWorkerState(hash)).toEqual({ ok: true, state: { ...full, lastError: 'HTTP 503' } });
  });

  it('writes every field, absent optional ones as empty strings, and reads them back as absent', () => {
    const before: WorkerState = {
      ...full,
      lastTickAt: undefined,
      lastPrice: undefined,
      referencePrice: undefined,
    };
    const hash = encodeWorkerState(before);
    expect(hash).toMatchObject({ lastTickAt: '', lastPrice: '', referencePrice: '', lastError: '' });
    const parsed = parseWorkerState(hash);
    expect(parsed.ok && parsed.state).toEqual({
      status: 'running',
      consecutiveErrors: 0,
      pendingAlerts: 2,
      alertsSent: 17,
      droppedAlerts: 0,
      pid: 4321,
      startedAt: full.startedAt,
    });
  });

  it.each([
    ['an expired key (empty hash)', {}, 'no state reported'],
    ['no hash at all', null, 'no state reported'],
    ['an unknown status', { status: 'dancing' }, 'status'],
    ['a count that is not a whole number', { consecutiveErrors: '1.5' }, 'consecutiveErrors'],
    ['a negative count', { alertsSent: '-1' }, 'alertsSent'],
    ['a price that is not a decimal', { lastPrice: '6e4' }, 'lastPrice'],
    ['a tick time that is not ISO-8601', { lastTickAt: 'yesterday' }, 'lastTickAt'],
    ['a field the schema does not know', { colour: 'red' }, 'colour'],
  ])('refuses %s, naming it', (_what, change, named) => {
    const hash =
      change === null
        ? null
        : Object.keys(change).length === 0
          ? {}
          : { ...encodeWorkerState(full), ...change };
    const parsed = parseWorkerState(hash);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain(named);
  });
});
