import { captureLogger, MONITOR_ID } from './testing/worker.fakes';
import { redactUrl } from './worker.logger';

describe('createWorkerLogger', () => {
  it('writes JSON lines with the level label, an ISO time, monitorId and pair', () => {
    const { logger, lines } = captureLogger('info');
    logger.info({ price: '1' }, 'hello');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'info',
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        monitorId: MONITOR_ID,
        pair: 'BTC-USD',
        price: '1',
        msg: 'hello',
      }),
    ]);
  });

  it('honours the level', () => {
    const { logger, lines } = captureLogger('warn');
    logger.info('hidden');
    logger.warn('shown');
    expect(lines.map((l) => l.msg)).toEqual(['shown']);
  });

  it('censors secret-looking fields', () => {
    const { logger, lines } = captureLogger();
    logger.info(
      { redisUrl: 'redis://:pw@h:6379', settings: { redisUrl: 'redis://:pw@h', password: 'pw' } },
      'x',
    );
    expect(JSON.stringify(lines)).not.toContain('pw');
    expect(lines[0].redisUrl).toBe('[redacted]');
  });
});

describe('redactUrl', () => {
  it.each([
    ['redis://:s3cret@redis:6379/2', 'redis://:***@redis:6379/2'],
    ['redis://user:s3cret@redis:6379', 'redis://***:***@redis:6379'],
    ['redis://redis:6379', 'redis://redis:6379'],
    ['https://api.uphold.com', 'https://api.uphold.com/'],
    ['not a url with s3cret', '[unparseable URL]'],
  ])('%s → %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
    expect(redactUrl(url)).not.toContain('s3cret');
  });
});
