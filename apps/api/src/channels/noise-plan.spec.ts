import type { QuietHours } from '../notify/channel-types';
import { planNoise, quietEnd, zonedInstant } from './noise-plan';

const every = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as QuietHours['windows'][number]['days'];
const lisbonNights: QuietHours = {
  timeZone: 'Europe/Lisbon',
  windows: [{ days: every, from: '22:00', to: '07:00' }],
};

describe('quietEnd', () => {
  it('a window crossing midnight: quiet before and after it, with the end the next morning', () => {
    // 2026-01-14 is a Wednesday; Lisbon is UTC+0 in winter.
    expect(quietEnd(lisbonNights, new Date('2026-01-14T23:30:00Z'))?.toISOString()).toBe(
      '2026-01-15T07:00:00.000Z',
    );
    expect(quietEnd(lisbonNights, new Date('2026-01-15T03:00:00Z'))?.toISOString()).toBe(
      '2026-01-15T07:00:00.000Z',
    );
    expect(quietEnd(lisbonNights, new Date('2026-01-15T07:00:00Z'))).toBeNull();
    expect(quietEnd(lisbonNights, new Date('2026-01-15T21:59:00Z'))).toBeNull();
  });

  it('follows the zone: summer time puts the end an hour earlier in UTC', () => {
    expect(quietEnd(lisbonNights, new Date('2026-07-15T23:00:00Z'))?.toISOString()).toBe(
      '2026-07-16T06:00:00.000Z',
    );
  });

  it('the night the clocks go forward (Europe/Lisbon, 2026-03-29 01:00 UTC) ends at 07:00 summer time', () => {
    expect(quietEnd(lisbonNights, new Date('2026-03-28T23:00:00Z'))?.toISOString()).toBe(
      '2026-03-29T06:00:00.000Z',
    );
  });

  it('the night the clocks go back (New York, 2026-11-01) ends at 07:00 standard time', () => {
    const ny: QuietHours = {
      timeZone: 'America/New_York',
      windows: [{ days: every, from: '22:00', to: '07:00' }],
    };
    expect(quietEnd(ny, new Date('2026-11-01T03:00:00Z'))?.toISOString()).toBe('2026-11-01T12:00:00.000Z');
  });

  it('a crossing window counts from its start day only: Friday night quiet, Saturday night not', () => {
    const friday: QuietHours = { timeZone: 'UTC', windows: [{ days: ['fri'], from: '23:00', to: '02:00' }] };
    // 2026-01-17 is a Saturday.
    expect(quietEnd(friday, new Date('2026-01-17T01:00:00Z'))?.toISOString()).toBe(
      '2026-01-17T02:00:00.000Z',
    );
    expect(quietEnd(friday, new Date('2026-01-18T01:00:00Z'))).toBeNull();
  });

  it('back-to-back windows are one stretch', () => {
    const q: QuietHours = {
      timeZone: 'UTC',
      windows: [
        { days: every, from: '20:00', to: '22:00' },
        { days: every, from: '22:00', to: '06:00' },
      ],
    };
    expect(quietEnd(q, new Date('2026-01-14T21:00:00Z'))?.toISOString()).toBe('2026-01-15T06:00:00.000Z');
  });
});

describe('zonedInstant', () => {
  it('reads a wall time in its zone', () => {
    expect(zonedInstant('Asia/Kolkata', 2026, 1, 2, 9 * 60).toISOString()).toBe('2026-01-02T03:30:00.000Z');
  });
  it('a skipped time moves forward by the gap (02:30 → 03:30 EDT)', () => {
    // New York skips 02:00–03:00 on 2026-03-08 (07:00 UTC).
    expect(zonedInstant('America/New_York', 2026, 3, 8, 2 * 60 + 30).toISOString()).toBe(
      '2026-03-08T07:30:00.000Z',
    );
  });
});

describe('planNoise', () => {
  const none = { quietHours: null, digestWindowMs: null, maxPerHour: null };
  const now = new Date('2026-01-14T12:00:00Z');
  const idle = { openHoldUntil: null, releasedThisHour: 0 };
  it('no rules: send', () => expect(planNoise(none, idle, now)).toEqual({ action: 'send' }));
  it('in quiet hours: held to the end of the window', () => {
    const q: QuietHours = { timeZone: 'UTC', windows: [{ days: every, from: '11:00', to: '13:00' }] };
    expect(planNoise({ ...none, quietHours: q }, idle, now)).toEqual({
      action: 'hold',
      until: new Date('2026-01-14T13:00:00Z'),
      reason: 'quiet hours',
    });
  });
  it('digest: the first alert opens a window, the next ones join it', () => {
    const s = { ...none, digestWindowMs: 60_000 };
    expect(planNoise(s, idle, now)).toMatchObject({ until: new Date('2026-01-14T12:01:00Z') });
    const open = new Date('2026-01-14T12:00:30Z');
    expect(planNoise(s, { ...idle, openHoldUntil: open }, now)).toMatchObject({ until: open });
  });
  it('past maxPerHour: held to the end of the hour', () => {
    const s = { ...none, maxPerHour: 3 };
    expect(planNoise(s, { ...idle, releasedThisHour: 2 }, now)).toEqual({ action: 'send' });
    expect(planNoise(s, { ...idle, releasedThisHour: 3 }, new Date('2026-01-14T12:20:00Z'))).toEqual({
      action: 'hold',
      until: new Date('2026-01-14T13:00:00Z'),
      reason: 'hourly limit',
    });
  });
});
