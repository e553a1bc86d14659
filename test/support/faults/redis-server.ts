import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort, sleep } from './util';

/**
 * A redis-server of the test's own, with persistence on (append-only file, fsync every second) in a
 * temporary folder, on its own loopback port. Restarting it keeps the data; the machine's shared Redis is
 * never touched.
 */
export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  running(): boolean;
  /** SIGTERM: Redis writes the append-only file out and exits. */
  stop(): Promise<void>;
  /** SIGKILL: no shutdown at all (what was written to the append-only file survives; fsync every second). */
  kill(): Promise<void>;
  /** Starts again on the same port and folder; resolves once it answers PING. */
  start(): Promise<void>;
  destroy(): Promise<void>;
  output(): string;
}

const live = new Set<() => void>();
process.once('exit', () => {
  for (const cleanup of live) cleanup();
});

export async function startRedisServer(): Promise<RedisServer> {
  const bin = process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const dir = mkdtempSync(join(tmpdir(), 'pairwatch-faults-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const start = async (): Promise<void> => {
    if (child) return;
    const proc = spawn(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
    proc.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
    child = proc;
    exited = new Promise<void>((resolve) =>
      proc.once('exit', () => {
        if (child === proc) child = undefined;
        resolve();
      }),
    );
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (child !== proc) throw new Error(`faults: redis-server exited at start: ${output.slice(-2000)}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          if ((await probe.ping()) === 'PONG') return;
        } catch {
          probe.disconnect();
        }
        if (Date.now() > deadline) throw new Error(`faults: redis-server did not answer: ${output}`);
        await sleep(50);
      }
    } finally {
      probe.disconnect();
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (!child) return;
    child.kill(signal);
    await exited;
  };
  const cleanupSync = (): void => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  live.add(cleanupSync);

  try {
    await start();
  } catch (error) {
    cleanupSync();
    live.delete(cleanupSync);
    throw error;
  }
  return {
    port,
    url,
    dir,
    running: () => child !== undefined,
    stop: () => stop('SIGTERM'),
    kill: () => stop('SIGKILL'),
    start,
    destroy: async () => {
      if (child) {
        child.kill('SIGKILL');
        await exited;
      }
      cleanupSync();
      live.delete(cleanupSync);
    },
    output: () => output,
  };
}
