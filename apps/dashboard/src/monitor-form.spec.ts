import { EMPTY_MONITOR_FORM, monitorBody } from './monitor-form';

describe('monitorBody', () => {
  it('sends only the fields filled in, numbers as numbers', () => {
    expect(
      monitorBody({
        ...EMPTY_MONITOR_FORM,
        pair: ' btc-usd ',
        intervalMs: '1000',
        thresholdPercent: '0.5',
        direction: 'up',
      }),
    ).toEqual({ pair: 'btc-usd', intervalMs: 1000, thresholdPercent: 0.5, direction: 'up' });
  });

  it('sends what does not read as a number as typed, for the API to name', () => {
    expect(
      monitorBody({ ...EMPTY_MONITOR_FORM, pair: 'BTC-USD', intervalMs: '5s', cooldownMs: '1e3' }),
    ).toEqual({
      pair: 'BTC-USD',
      intervalMs: '5s',
      cooldownMs: 1000,
    });
  });
});
