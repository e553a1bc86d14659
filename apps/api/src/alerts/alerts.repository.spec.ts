import { historyQuery, NOTIFIED_IDS_PER_MESSAGE, parseNotifiedIds } from './alerts.repository';

describe('historyQuery', () => {
  const at = new Date('2026-11-24T08:00:00.000Z');
  const id = '0b8f4a52-6c1e-4d8e-9a0f-3c2b1a0d9e8f';

  it.each([
    [{ limit: 51 }, '', [51]],
    [{ pair: 'BTC-USD', limit: 101 }, ' WHERE pair = $1', ['BTC-USD', 101]],
    [
      { pair: 'BTC-USD', after: { observedAt: at, id }, limit: 101 },
      ' WHERE pair = $1 AND (observed_at, id) < ($2, $3)',
      ['BTC-USD', at, id, 101],
    ],
    [
      { monitorId: id, since: at, until: at, limit: 2 },
      ' WHERE monitor_id = $1 AND observed_at >= $2 AND observed_at < $3',
      [id, at, at, 2],
    ],
  ])('%o: every value a parameter, the conditions in one fixed order', (filter, where, params) => {
    const query = historyQuery(filter);
    expect(query.params).toEqual(params);
    expect(query.sql).toContain(
      `FROM alerts${where} ORDER BY observed_at DESC, id DESC LIMIT $${params.length}`,
    );
  });
});

describe('parseNotifiedIds', () => {
  const a = '0b8f4a52-6c1e-4d8e-9a0f-3c2b1a0d9e8f';
  const b = 'f3a6b1c2-0d4e-4f5a-8b9c-0d1e2f3a4b5c';

  it('reads a comma-separated list of ids, in order', () => {
    expect(parseNotifiedIds(a)).toEqual([a]);
    expect(parseNotifiedIds(`${b},${a}`)).toEqual([b, a]);
  });

  it.each([undefined, '', '{"id":"x"}', `${a},`, `${a},,${b}`, `${a} ${b}`, a.toUpperCase()])(
    'finds no ids in %p',
    (payload) => {
      expect(parseNotifiedIds(payload)).toEqual([]);
    },
  );

  it('fits the most ids a message carries within NOTIFY’s 8,000-byte payload', () => {
    expect(Array.from({ length: NOTIFIED_IDS_PER_MESSAGE }, () => a).join(',').length).toBeLessThan(8000);
  });
});
