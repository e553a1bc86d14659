import {
  STATE_FILE_PATTERN,
  computeSpecHash,
  tailLines,
  workerContainerName,
  workerProcessName,
  workerServiceName,
} from './workload';
import type { WorkerSpec } from './worker-runtime';
import { sampleMonitorConfig } from './testing/worker-runtime.mock';

const MONITOR_ID = '3f2b8c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c';

describe('workerContainerName', () => {
  it('is made of the checked pair (lower-cased) and the monitor id', () => {
    expect(workerContainerName('BTC-USD', MONITOR_ID)).toBe(`pairwatch-worker-btc-usd-${MONITOR_ID}`);
  });

  it.each([
    ['btc-usd', MONITOR_ID],
    ['BTC-USD;rm -rf /', MONITOR_ID],
    ['../etc', MONITOR_ID],
    ['BTC-USD\n', MONITOR_ID],
    ['BTC-USD --privileged', MONITOR_ID],
    ['', MONITOR_ID],
    ['BTC-USD', 'not-a-uuid'],
    ['BTC-USD', `${MONITOR_ID} `],
    ['BTC-USD', MONITOR_ID.toUpperCase()],
    ['BTC-USD', `${MONITOR_ID}/../x`],
    ['BTC-USD', ''],
  ])('refuses pair %j with id %j', (pair, id) => {
    expect(() => workerContainerName(pair, id)).toThrow(/unchecked/);
  });
});

describe('workerServiceName', () => {
  it('is made of the checked pair (lower-cased) and the monitor id without its dashes', () => {
    expect(workerServiceName('BTC-USD', MONITOR_ID)).toBe('pw-btc-usd-3f2b8c1a5d4e4f6a9b8c7d6e5f4a3b2c');
  });

  it('fits a DNS label (63 characters) for the longest pair', () => {
    expect(workerServiceName('ABCDEFGHIJKL-ABCDEFGHIJKL', MONITOR_ID).length).toBeLessThanOrEqual(63);
  });

  it.each([
    ['btc-usd', MONITOR_ID],
    ['BTC-USD;rm -rf /', MONITOR_ID],
    ['BTC-USD --with-registry-auth', MONITOR_ID],
    ['BTC-USD', 'not-a-uuid'],
    ['BTC-USD', MONITOR_ID.toUpperCase()],
    ['BTC-USD', ''],
  ])('refuses pair %j with id %j', (pair, id) => {
    expect(() => workerServiceName(pair, id)).toThrow(/unchecked/);
  });
});

describe('workerProcessName', () => {
  it('is the container name for a checked pair', () => {
    expect(workerProcessName('BTC-USD', MONITOR_ID)).toBe(workerContainerName('BTC-USD', MONITOR_ID));
  });

  it('is made of the id alone when the recorded pair is not a pair', () => {
    expect(workerProcessName('btc usd', MONITOR_ID)).toBe(`pairwatch-worker-${MONITOR_ID}`);
  });
});

describe('STATE_FILE_PATTERN', () => {
  it('takes a monitor id followed by .json, and captures the id', () => {
    expect(STATE_FILE_PATTERN.exec(`${MONITOR_ID}.json`)?.[1]).toBe(MONITOR_ID);
  });

  it.each([`${MONITOR_ID}.log`, `${MONITOR_ID}.json.123.tmp`, `x${MONITOR_ID}.json`, 'other.json'])(
    'refuses %j',
    (name) => {
      expect(STATE_FILE_PATTERN.test(name)).toBe(false);
    },
  );
});

describe('computeSpecHash', () => {
  const spec = (env: Record<string, string>): WorkerSpec => ({
    role: 'worker',
    monitor: sampleMonitorConfig({ monitorId: MONITOR_ID }),
    env,
  });

  it('does not depend on the order of the environment', () => {
    expect(computeSpecHash('sha256:1', spec({ A: '1', B: '2' }))).toBe(
      computeSpecHash('sha256:1', spec({ B: '2', A: '1' })),
    );
  });

  it('changes with the program and with any variable', () => {
    const base = computeSpecHash('sha256:1', spec({ A: '1' }));
    expect(computeSpecHash('sha256:2', spec({ A: '1' }))).not.toBe(base);
    expect(computeSpecHash('sha256:1', spec({ A: '2' }))).not.toBe(base);
    expect(computeSpecHash('sha256:1', spec({ A: '1', B: '' }))).not.toBe(base);
    expect(base).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('tailLines', () => {
  it('keeps the last non-empty lines, trimmed at the end', () => {
    expect(tailLines('one\n\ntwo  \nthree\n', 2)).toBe('two\nthree');
  });

  it('cuts long lines', () => {
    expect(tailLines('x'.repeat(10), 5, 4)).toBe('xxxx…');
  });
});
