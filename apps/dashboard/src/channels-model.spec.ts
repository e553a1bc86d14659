import {
  carriedAlerts,
  channelBody,
  channelTarget,
  daysText,
  emptyChannel,
  emptyWindow,
  errorsAt,
  errorsOutside,
  noiseSummary,
  placedError,
  refreshedDeliveries,
  type Channel,
} from './channels-model';

describe('channels model', () => {
  it('sends a type its config, lists as arrays, an optional secret left out when empty', () => {
    expect(channelBody({ ...emptyChannel('email'), config: { to: 'a@example.com, b@example.com' } })).toEqual(
      { type: 'email', config: { to: ['a@example.com', 'b@example.com'] }, events: ['alert.created'] },
    );
    expect(
      channelBody({ ...emptyChannel('ntfy'), config: { url: ' https://ntfy.sh/t ', token: '' } }).config,
    ).toEqual({
      url: 'https://ntfy.sh/t',
    });
    expect(
      channelBody({ ...emptyChannel('telegram'), config: { botToken: '1:x', chatId: '42' } }).config,
    ).toEqual({
      botToken: '1:x',
      chatId: '42',
    });
  });

  it('sends the filter, quiet hours as days and times in a zone, the digest in ms and the hourly limit', () => {
    const window = { ...emptyWindow(), days: ['sat' as const, 'sun' as const], from: '22:00', to: '07:30' };
    expect(
      channelBody({
        ...emptyChannel('slack', 'Europe/Lisbon'),
        name: ' desk ',
        config: { url: 'https://hooks.slack.com/x' },
        pairs: 'BTC-USD, ETH-USD',
        kinds: ['cross'],
        quiet: [window],
        digestSeconds: '60',
        maxPerHour: '10',
      }),
    ).toEqual({
      type: 'slack',
      name: 'desk',
      config: { url: 'https://hooks.slack.com/x' },
      events: ['alert.created'],
      filter: { pairs: ['BTC-USD', 'ETH-USD'], kinds: ['cross'] },
      quietHours: {
        timeZone: 'Europe/Lisbon',
        windows: [{ days: ['sat', 'sun'], from: '22:00', to: '07:30' }],
      },
      digest: { windowMs: 60_000 },
      maxPerHour: 10,
    });
    expect(channelBody({ ...emptyChannel(), maxPerHour: 'x', digestSeconds: 'soon' })).toMatchObject({
      maxPerHour: 'x',
      digest: { windowMs: 'soon' },
    });
    // A negative or fractional number goes as a number: the API then says "at least 1", not "must be an integer".
    expect(channelBody({ ...emptyChannel(), maxPerHour: '-3', digestSeconds: '-5' })).toMatchObject({
      maxPerHour: -3,
      digest: { windowMs: -5000 },
    });
    expect(channelBody({ ...emptyChannel(), maxPerHour: '1.5', digestSeconds: '.5' })).toMatchObject({
      maxPerHour: 1.5,
      digest: { windowMs: 500 },
    });
  });

  it('gathers the field errors at a path and under it', () => {
    const fields = {
      'config.to[1]': ['config.to[1] must be an email address'],
      'config.to': ['config.to must hold at most 20 addresses'],
      'quietHours.windows[0].from': ['quietHours.windows[0].from must be HH:MM'],
      'quietHours.timeZone': ['quietHours.timeZone is not a known zone'],
      'config.token': ['x'],
    };
    expect(errorsAt(fields, 'config.to')).toEqual([
      'config.to[1] must be an email address',
      'config.to must hold at most 20 addresses',
    ]);
    expect(errorsAt(fields, 'quietHours.windows[0]')).toEqual(['quietHours.windows[0].from must be HH:MM']);
    expect(errorsAt(fields, 'config.t')).toEqual([]);
    // The catch-all lines under the config and the quiet windows: only what no field of the form shows.
    expect(errorsOutside(fields, 'config', ['config.to', 'config.token'])).toEqual([]);
    expect(
      errorsOutside({ ...fields, config: ['config must be an object'] }, 'config', ['config.to']),
    ).toEqual(['x', 'config must be an object']);
    expect(errorsOutside(fields, 'quietHours.windows', ['quietHours.windows[0]'])).toEqual([]);
    expect(errorsOutside(fields, 'quietHours.windows', [])).toEqual([
      'quietHours.windows[0].from must be HH:MM',
    ]);
    expect(['config.url', 'quietHours.windows[0].to', 'maxPerHour', 'secret'].map(placedError)).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it('says where a channel delivers and how it keeps the noise down', () => {
    const channel: Channel = {
      id: 'c1',
      type: 'email',
      events: ['alert.created'],
      config: { to: ['a@example.com'] },
      enabled: true,
      quietHours: {
        timeZone: 'UTC',
        windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '22:00', to: '07:00' }],
      },
      digest: { windowMs: 30_000 },
      maxPerHour: 5,
    };
    expect(channelTarget(channel)).toBe('a@example.com');
    expect(channelTarget({ ...channel, config: { chatId: '-100' } })).toBe('chat -100');
    expect(noiseSummary(channel)).toEqual(['quiet weekdays 22:00–07:00 (UTC)', 'digest 30 s', 'at most 5/h']);
    expect([
      daysText(['sat', 'sun']),
      daysText(['mon', 'wed']),
      daysText(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']),
    ]).toEqual(['weekends', 'mon wed', 'every day']);
  });

  it('lists the alerts a digest carries', () => {
    const base = {
      id: 'd',
      eventType: 'alert.created',
      status: 'delivered',
      createdAt: '2026-01-01T00:00:00Z',
    };
    expect(carriedAlerts({ ...base, alertIds: ['aaaaaaaa-1', 'bbbbbbbb-2'] })).toEqual([
      'aaaaaaaa',
      'bbbbbbbb',
    ]);
    expect(
      carriedAlerts({
        ...base,
        alerts: [{ id: 'x', pair: 'BTC-USD', kind: 'cross', direction: 'up', price: '1' }],
      }),
    ).toEqual(['BTC-USD cross up 1']);
    expect(carriedAlerts(base)).toEqual([]);
  });
});

describe('refreshedDeliveries', () => {
  const row = (id: string, status = 'pending') => ({ id, status });
  it('answers the newest page alone while no older page was loaded', () => {
    expect(refreshedDeliveries([row('b'), row('a')], [row('c'), row('b')], false)).toEqual([
      row('c'),
      row('b'),
    ]);
  });

  it('keeps the older pages loaded, past the newest page, with the page rows as they are now', () => {
    const shown = [row('d'), row('c', 'pending'), row('b'), row('a')];
    const newest = [row('e'), row('d'), row('c', 'delivered')];
    expect(refreshedDeliveries(shown, newest, true)).toEqual([
      row('e'),
      row('d'),
      row('c', 'delivered'),
      row('b'),
      row('a'),
    ]);
  });
});
