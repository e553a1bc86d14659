import type { Logger } from '@nestjs/common';
import type Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import DockerClient from 'dockerode';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineEvent, containerLogTail, eventNanos, followEngineEvents } from './docker-engine';
import { DockerRuntime } from './docker.runtime';
import { TEST_WORKER_LIMITS } from './testing/worker-runtime.mock';
import { RuntimeUnavailableError } from './worker-runtime';

/** A Docker client whose event streams the test controls. */
function fakeDocker() {
  const streams: PassThrough[] = [];
  const calls: Array<Record<string, unknown>> = [];
  const docker = {
    getEvents: jest.fn((options: Record<string, unknown>) => {
      calls.push(options);
      const stream = new PassThrough();
      streams.push(stream);
      return Promise.resolve(stream);
    }),
  };
  return { docker: docker as unknown as Docker, streams, calls };
}

const logger = () => ({ log: jest.fn(), warn: jest.fn() }) as unknown as Logger & { warn: jest.Mock };

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('followEngineEvents', () => {
  afterEach(() => jest.useRealTimers());

  it('reads one event per line, whatever the chunking', async () => {
    const { docker, streams } = fakeDocker();
    const events: EngineEvent[] = [];
    const stop = followEngineEvents(docker, {}, (e) => events.push(e), logger());
    await flush();
    streams[0].write('{"Action":"start","time":1}\n{"Action":"di');
    streams[0].write('e","time":2}\n');
    await flush();
    expect(events.map((e) => e.Action)).toEqual(['start', 'die']);
    stop();
  });

  it('survives the engine connection dropping mid-stream (socket gone), and follows again from the last event', async () => {
    jest.useFakeTimers();
    const { docker, streams, calls } = fakeDocker();
    const log = logger();
    const events: EngineEvent[] = [];
    const uncaught = jest.fn();
    process.on('uncaughtException', uncaught);
    try {
      const stop = followEngineEvents(docker, { type: ['container'] }, (e) => events.push(e), log);
      await jest.advanceTimersByTimeAsync(0);
      streams[0].write('{"Action":"start","time":41}\n');
      await jest.advanceTimersByTimeAsync(0);
      // What an http.IncomingMessage does when its socket closes before the end.
      streams[0].destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      await jest.advanceTimersByTimeAsync(0);
      expect(log.warn).toHaveBeenCalledWith('Docker event stream failed: aborted');
      await jest.advanceTimersByTimeAsync(30_000);
      expect(calls).toHaveLength(2);
      expect(calls[1]).toEqual({ filters: { type: ['container'] }, since: 41 });
      stop();
    } finally {
      process.off('uncaughtException', uncaught);
    }
    expect(uncaught).not.toHaveBeenCalled();
  });
});

describe('engine calls on an engine that accepts and never answers', () => {
  it('fail as RuntimeUnavailableError after the call timeout instead of hanging', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pairwatch-stall-'));
    const socketPath = join(dir, 'docker.sock');
    const held: Socket[] = [];
    const server = createServer((socket) => held.push(socket)); // reads nothing, answers nothing
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const started = Date.now();
      const config = {
        workerImage: 'none',
        workerNetwork: 'host',
        instance: 'stall',
        workerLimits: TEST_WORKER_LIMITS,
      };
      const runtime = new DockerRuntime(config, new DockerClient({ socketPath, timeout: 300 }));
      const error = await runtime.ping().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeUnavailableError);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      held.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('containerLogTail', () => {
  const frame = (stream: number, text: string) => {
    const header = Buffer.alloc(8);
    header[0] = stream;
    header.writeUInt32BE(Buffer.byteLength(text), 4);
    return Buffer.concat([header, Buffer.from(text)]);
  };

  it('reads the multiplexed stream and keeps the last 10 lines', () => {
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i}`);
    const raw = Buffer.concat(lines.map((line, i) => frame(i % 2 === 0 ? 1 : 2, `${line}\n`)));
    expect(containerLogTail(raw)).toBe(lines.slice(2).join('\n'));
  });

  it('takes a string as plain text and anything else as no log', () => {
    expect(containerLogTail('plain\n')).toBe('plain');
    expect(containerLogTail({})).toBe('');
  });
});

describe('eventNanos', () => {
  it('prefers timeNano, else time in seconds, else nothing', () => {
    expect(eventNanos({ timeNano: 5, time: 1 })).toBe(5);
    expect(eventNanos({ time: 2 })).toBe(2e9);
    expect(eventNanos({})).toBeUndefined();
  });
});
