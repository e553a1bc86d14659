import { statsBars } from './stats-model';

describe('alerts per day', () => {
  it('reads counts by kind per bucket, oldest first', () => {
    expect(
      statsBars([
        { t: '2026-12-02T00:00:00Z', byKind: { move: 2, cross: { up: 1, down: 2 } } },
        { t: '2026-12-01T00:00:00Z', byKind: { window: 1 } },
      ]),
    ).toEqual([
      { t: '2026-12-01T00:00:00Z', byKind: { window: 1 }, total: 1 },
      { t: '2026-12-02T00:00:00Z', byKind: { move: 2, cross: 3 }, total: 5 },
    ]);
  });

  it('reads one row per bucket, kind and direction, under items', () => {
    expect(
      statsBars({
        items: [
          { bucket: '2026-12-01T00:00:00Z', kind: 'move', direction: 'up', count: 2 },
          { bucket: '2026-12-01T00:00:00Z', kind: 'move', direction: 'down', count: '1' },
          { bucket: '2026-12-01T00:00:00Z', kind: 'spread', direction: 'up', count: 4 },
          'garbage',
        ],
      }),
    ).toEqual([{ t: '2026-12-01T00:00:00Z', byKind: { move: 3, spread: 4 }, total: 7 }]);
    expect(statsBars(null)).toEqual([]);
  });
});
