import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { logDestination } from './log-destination';

describe('logDestination', () => {
  let dir: string;
  let fd: number;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pairwatch-log-'));
    path = join(dir, 'out.log');
    fd = openSync(path, 'w');
  });

  afterEach(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The complete lines in the file so far (a write may be landing as it is read: a partial last line is left out). */
  const lines = () =>
    readFileSync(path, 'utf8')
      .split('\n')
      .slice(0, -1)
      .map((line) => JSON.parse(line) as { msg: string; n: number });

  /** Waits, up to a deadline, for `count` lines to be in the file (the writes are asynchronous). */
  async function written(count: number) {
    const deadline = Date.now() + 5000;
    while (lines().length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return lines();
  }

  it('writes every line whole and in order, across many joined writes', async () => {
    // A small bound, so 5,000 lines take hundreds of writes, most of them joining lines queued meanwhile.
    const sink = logDestination(fd, 1024);
    const logger = pino({ base: undefined }, sink);
    for (let n = 0; n < 5000; n++) logger.info({ n }, 'alert');
    const all = await written(5000);
    expect(all).toHaveLength(5000);
    expect(all.map((line) => line.n)).toEqual(Array.from({ length: 5000 }, (_, n) => n));
  });

  it('keeps text beyond ASCII intact (a line is turned into UTF-8 bytes once, as logged)', async () => {
    const sink = logDestination(fd);
    const logger = pino({ base: undefined }, sink);
    logger.info('prix € — 価格 — 🚀');
    logger.info('second');
    expect((await written(2)).map((line) => line.msg)).toEqual(['prix € — 価格 — 🚀', 'second']);
  });

  it('writes every queued line at once on flushSync (as at exit), then each line is there once', async () => {
    const sink = logDestination(fd);
    const logger = pino({ base: undefined }, sink);
    // The first line starts an asynchronous write (it may land before or after); the other 99 queue behind it.
    for (let n = 0; n < 100; n++) logger.info({ n }, 'queued');
    sink.flushSync();
    const queued = lines().filter((line) => line.n > 0);
    expect(queued.map((line) => line.n)).toEqual(Array.from({ length: 99 }, (_, n) => n + 1));
    const all = await written(100);
    expect(all.map((line) => line.n).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, n) => n));
  });

  it('pretty-prints for a person when asked (stdout a terminal): no JSON, the level and message readable', () => {
    const logger = pino({ base: undefined }, logDestination(fd, 1024, true));
    logger.info({ pair: 'BTC-USD' }, 'monitor started');
    // eslint-disable-next-line no-control-regex -- the colours' escape sequences are taken out
    const text = readFileSync(path, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
    expect(text).toMatch(/INFO.*monitor started/);
    expect(text).toMatch(/pair: "BTC-USD"/);
    expect(() => JSON.parse(text.split('\n')[0]) as unknown).toThrow();
  });

  it('writes JSON lines when the descriptor is not a terminal (the default for a file or a pipe)', async () => {
    const logger = pino({ base: undefined }, logDestination(fd));
    logger.info({ n: 1 }, 'as json');
    expect(await written(1)).toEqual([expect.objectContaining({ msg: 'as json', n: 1 })]);
  });
});
