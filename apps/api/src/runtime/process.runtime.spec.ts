import { Logger } from '@nestjs/common';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { legacyMoveRule, type MonitorConfig } from '@pairwatch/contracts';
import type { ProcessWorkerRecord } from './process-state';
import { childEnv, exitCodeOf, processGone } from './process-table';
import { projectRoot } from '../common/project-root';
import { ProcessRuntime } from './process.runtime';
import {
  RELAY,
  RelaySpec,
  RuntimeUnavailableError,
  WorkerEvent,
  WorkerSpec,
  workerOf,
} from './worker-runtime';

const MONITOR_ID = '3f2b8c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c';
const OTHER_ID = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

/**
 * A stand-in for the worker program: prints its environment, then behaves as MODE says — runs until
 * SIGTERM (exit 0), ignores SIGTERM, or exits at once with CODE after a few lines of output.
 */
const FAKE_WORKER = `
const mode = process.env.MODE || 'run';
console.log(JSON.stringify({ env: process.env }));
if (mode === 'exit') {
  console.log('line one');
  console.error('fatal: the end');
  process.exit(Number(process.env.CODE));
}
process.on('SIGTERM', () => {
  if (mode === 'ignore-term') return console.log('ignoring SIGTERM');
  console.log('stopping');
  process.exit(0);
});
console.log('SIGTERM handled');
setInterval(() => undefined, 1000);
`;

function specFor(env: Record<string, string> = {}, monitorId = MONITOR_ID): WorkerSpec {
  const monitor: MonitorConfig = {
    monitorId,
    pair: 'BTC-USD',
    intervalMs: 1000,
    rules: [legacyMoveRule({ thresholdPercent: '0.5' })],
  };
  return { role: 'worker', monitor, env: { MONITOR_ID: monitorId, PAIR: 'BTC-USD', ...env } };
}

// Each case starts Node processes: on a loaded machine one can take seconds to come up.
jest.setTimeout(30_000);

function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  return (async () => {
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
}

function pidOf(workerId: string): number {
  expect(workerId).toMatch(/^process:\d+$/);
  return Number(workerId.slice('process:'.length));
}

/** The PATH the runtime hands on (the API passes its own, from the config). */
const HOST_PATH = '/usr/local/bin:/usr/bin:/bin';

describe('ProcessRuntime', () => {
  let dir: string;
  let script: string;
  let stateDir: string;
  const runtimes: ProcessRuntime[] = [];
  const strays: ChildProcess[] = [];

  function newRuntime(overrides: Partial<ConstructorParameters<typeof ProcessRuntime>[0]> = {}) {
    const runtime = new ProcessRuntime({
      instance: 'unit',
      workerScript: script,
      stateDir,
      hostPath: HOST_PATH,
      stopTimeoutMs: 500,
      pollIntervalMs: 50,
      ...overrides,
    });
    runtimes.push(runtime);
    return runtime;
  }

  function stateFile(monitorId = MONITOR_ID): string {
    return path.join(stateDir, `${monitorId}.json`);
  }

  function readState(monitorId = MONITOR_ID): ProcessWorkerRecord {
    return JSON.parse(fs.readFileSync(stateFile(monitorId), 'utf8')) as ProcessWorkerRecord;
  }

  function writeState(record: Partial<ProcessWorkerRecord> & { pid: number }, monitorId = MONITOR_ID) {
    fs.mkdirSync(stateDir, { recursive: true });
    const full: ProcessWorkerRecord = {
      version: 1,
      monitorId,
      pair: 'BTC-USD',
      instance: 'unit',
      script,
      specHash: 'abc',
      startedAt: new Date().toISOString(),
      ...record,
    };
    fs.writeFileSync(stateFile(monitorId), JSON.stringify(full));
  }

  /** A live process that is not the worker of MONITOR_ID (the pid a reused pid would point at). */
  function spawnStray(args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, args, { stdio: 'ignore', env: { ...env } });
    strays.push(child);
    return child;
  }

  function nextEvent(runtime: ProcessRuntime, kind: WorkerEvent['kind']): Promise<WorkerEvent> {
    return new Promise((resolve) => {
      const unwatch = runtime.watch((event) => {
        if (event.kind !== kind) return;
        unwatch();
        resolve(event);
      });
    });
  }

  beforeAll(() => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pairwatch-process-runtime-'));
    script = path.join(dir, 'worker.js');
    fs.writeFileSync(script, FAKE_WORKER);
    stateDir = path.join(dir, 'state');
  });

  afterEach(async () => {
    for (const runtime of runtimes.splice(0)) {
      const workers = await runtime.list('worker').catch(() => []);
      await Promise.all(workers.map((w) => runtime.stop(workerOf(w.monitorId)).catch(() => undefined)));
      const relays = await runtime.list('relay').catch(() => []);
      await Promise.all(relays.map((r) => runtime.stop(RELAY, r.workerId).catch(() => undefined)));
      await runtime.onModuleDestroy();
    }
    for (const stray of strays.splice(0)) stray.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterAll(() => {
    jest.restoreAllMocks();
  });

  describe('the relay', () => {
    let relayScript: string;
    const relaySpec = (env: Record<string, string> = {}): RelaySpec => ({
      role: 'relay',
      port: 8095,
      env: { RELAY_PORT: '8095', ...env },
    });
    const relayState = () => path.join(stateDir, 'relay.json');

    beforeEach(() => {
      relayScript = path.join(dir, 'relay.js');
      fs.writeFileSync(relayScript, FAKE_WORKER);
    });

    it('defaults to relay.js beside the worker program', () => {
      expect(newRuntime().relayScript).toBe(path.join(dir, 'worker.js').replace(/worker\.js$/, 'relay.js'));
    });

    it('runs as a child process of the relay program, with a state file, its own environment and its role', async () => {
      const runtime = newRuntime({ relayScript });
      const started = nextEvent(runtime, 'started');
      const info = await runtime.start(relaySpec());
      expect(await started).toEqual({ kind: 'started', workload: RELAY, exit: undefined });
      const pid = pidOf(info.workerId);
      expect(await processGone(pid)).toBe(false);
      expect(JSON.parse(fs.readFileSync(relayState(), 'utf8'))).toMatchObject({
        monitorId: 'relay',
        pid,
        script: relayScript,
        instance: 'unit',
      });
      expect(info).toMatchObject({ monitorId: '', name: 'pairwatch-relay-unit', state: 'running' });
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(environ).toEqual(
        expect.arrayContaining(['RELAY_PORT=8095', 'PAIRWATCH_ROLE=relay', `PATH=${HOST_PATH}`]),
      );
      // Not a worker.
      expect(await runtime.list('worker')).toEqual([]);
      expect(await runtime.list('relay')).toEqual([info]);
      expect(await runtime.instances()).toEqual(['unit']);
    });

    it('answers the running relay instead of starting a second', async () => {
      const runtime = newRuntime({ relayScript });
      const first = await runtime.start(relaySpec());
      expect((await runtime.start(relaySpec())).workerId).toBe(first.workerId);
    });

    it('reports its death with the exit code and log tail, as the relay', async () => {
      const runtime = newRuntime({ relayScript });
      const died = nextEvent(runtime, 'exit');
      await runtime.start(relaySpec({ MODE: 'exit', CODE: '70' }));
      expect(await died).toMatchObject({
        kind: 'exit',
        workload: RELAY,
        exit: { exitCode: 70 },
      });
      const [relay] = await runtime.list('relay');
      expect(relay).toMatchObject({ state: 'exited', exitCode: 70 });
      expect((await runtime.lastExit(RELAY))?.logTail).toContain('fatal: the end');
    });

    it('is adopted by another API through its state file, and stopped by it', async () => {
      const first = newRuntime({ relayScript });
      const info = await first.start(relaySpec());
      await first.onModuleDestroy();
      const second = newRuntime({ relayScript });
      expect(await second.list('relay')).toEqual([
        expect.objectContaining({ workerId: info.workerId, state: 'running' }),
      ]);
      await second.stop(RELAY, info.workerId);
      expect(await processGone(pidOf(info.workerId))).toBe(true);
      expect(fs.existsSync(relayState())).toBe(false);
      expect(await second.list('relay')).toEqual([]);
    });

    it('never takes a reused pid running the relay program without the relay role for the relay', async () => {
      const stray = spawnStray([relayScript]);
      await waitFor('the stray to run', async () => ((await processGone(stray.pid!)) ? undefined : true));
      fs.mkdirSync(stateDir, { recursive: true });
      fs.writeFileSync(
        relayState(),
        JSON.stringify({
          version: 1,
          monitorId: 'relay',
          pair: '',
          instance: 'unit',
          pid: stray.pid,
          script: relayScript,
          specHash: 'abc',
          startedAt: new Date().toISOString(),
        }),
      );
      const runtime = newRuntime({ relayScript });
      expect(await runtime.list('relay')).toEqual([]);
      expect(await processGone(stray.pid!)).toBe(false);
    });

    it('changes its spec hash with the relay program and with its environment', async () => {
      const runtime = newRuntime({ relayScript });
      const hash = await runtime.specHash(relaySpec());
      expect(await runtime.specHash(relaySpec({ X: '1' }))).not.toBe(hash);
      fs.appendFileSync(relayScript, '\n// changed\n');
      expect(await runtime.specHash(relaySpec())).not.toBe(hash);
    });

    it('answers RuntimeUnavailableError naming the relay program when it is missing', async () => {
      const runtime = newRuntime({ relayScript: path.join(dir, 'missing-relay.js') });
      await expect(runtime.start(relaySpec())).rejects.toThrow(/relay program/);
    });
  });

  describe('readiness', () => {
    it('is unavailable, naming the path and the build command, while the worker program is missing', async () => {
      const runtime = newRuntime({ workerScript: path.join(dir, 'missing.js') });
      const expected = /missing\.js is missing; build it with "npm run build:worker"/;
      await expect(runtime.ping()).rejects.toThrow(RuntimeUnavailableError);
      await expect(runtime.ping()).rejects.toThrow(expected);
      await expect(runtime.ensureReady()).rejects.toThrow(expected);
      await expect(runtime.start(specFor())).rejects.toThrow(RuntimeUnavailableError);
      await expect(runtime.specHash(specFor())).rejects.toThrow(expected);
    });

    it('is ready once the program exists, creating its state directory', async () => {
      const runtime = newRuntime();
      await expect(runtime.ping()).resolves.toBeUndefined();
      await runtime.ensureReady();
      expect(fs.statSync(stateDir).isDirectory()).toBe(true);
    });

    it('finds the repository root from the sources and from the build output', () => {
      const root = projectRoot()!;
      expect(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))).toMatchObject({
        name: 'pairwatch',
      });
      expect(projectRoot(path.join(root, 'dist/apps/api/runtime'))).toBe(root);
      expect(projectRoot(path.join(root, 'apps/api/src/runtime'))).toBe(root);
    });
  });

  describe('start', () => {
    it('runs the program with exactly the worker environment plus PATH, and records it', async () => {
      process.env.PAIRWATCH_UNIT_SECRET = 'must-not-leak';
      const runtime = newRuntime();
      const started = nextEvent(runtime, 'started');
      let worker;
      try {
        worker = await runtime.start(specFor({ LOG_LEVEL: 'info' }));
      } finally {
        delete process.env.PAIRWATCH_UNIT_SECRET;
      }
      const pid = pidOf(worker.workerId);
      expect(worker).toMatchObject({
        monitorId: MONITOR_ID,
        pair: 'BTC-USD',
        name: `pairwatch-worker-btc-usd-${MONITOR_ID}`,
        state: 'running',
        exitCode: null,
        restarts: 0,
        image: script,
      });
      await expect(started).resolves.toEqual({ kind: 'started', workload: workerOf(MONITOR_ID) });
      expect(worker.specHash).toBe(await runtime.specHash(specFor({ LOG_LEVEL: 'info' })));

      expect(readState()).toMatchObject({
        version: 1,
        monitorId: MONITOR_ID,
        pair: 'BTC-USD',
        instance: 'unit',
        pid,
        script,
        specHash: worker.specHash,
        startedAt: worker.startedAt,
      });

      const log = path.join(stateDir, `${MONITOR_ID}.log`);
      const line = await waitFor('the worker to print its environment', () => {
        const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
        return text.includes('\n') ? text.split('\n')[0] : undefined;
      });
      const { env } = JSON.parse(line) as { env: Record<string, string> };
      const expected = { MONITOR_ID, PAIR: 'BTC-USD', LOG_LEVEL: 'info', PATH: HOST_PATH };
      expect(env).toEqual(expected);
      expect(childEnv(specFor(), '/bin')).toEqual({
        PATH: '/bin',
        MONITOR_ID,
        PAIR: 'BTC-USD',
      });
      expect(childEnv(specFor(), undefined)).toEqual({ MONITOR_ID, PAIR: 'BTC-USD' });

      expect(await runtime.find(workerOf(MONITOR_ID))).toMatchObject({
        workerId: worker.workerId,
        state: 'running',
      });
      expect(await runtime.list('worker')).toEqual([expect.objectContaining({ workerId: worker.workerId })]);
      expect(await runtime.lastExit(workerOf(MONITOR_ID))).toBeNull();
    });

    it('adopts the live worker instead of starting a second one, also when asked twice at once', async () => {
      const runtime = newRuntime();
      const [a, b] = await Promise.all([runtime.start(specFor()), runtime.start(specFor())]);
      expect(b.workerId).toBe(a.workerId);
      const again = await runtime.start(specFor());
      expect(again.workerId).toBe(a.workerId);
      expect(await runtime.list('worker')).toHaveLength(1);
    });

    it('refuses an unchecked pair or monitor id', async () => {
      const runtime = newRuntime();
      const spec = specFor();
      await expect(runtime.start({ ...spec, monitor: { ...spec.monitor, pair: '../x' } })).rejects.toThrow(
        /unchecked/,
      );
      await expect(
        runtime.start({ ...spec, monitor: { ...spec.monitor, monitorId: '../../etc' } }),
      ).rejects.toThrow(/unchecked/);
      await expect(runtime.find(workerOf('../../etc/passwd'))).resolves.toBeNull();
      await expect(runtime.stop(workerOf('../../etc/passwd'))).resolves.toBeUndefined();
    });
  });

  describe('exits', () => {
    it('records an exit with its code and last lines, tells the watchers, and does not restart', async () => {
      const runtime = newRuntime();
      const exited = nextEvent(runtime, 'exit');
      const worker = await runtime.start(specFor({ MODE: 'exit', CODE: '3' }));
      const pid = pidOf(worker.workerId);
      const event = await exited;
      expect(event).toMatchObject({ kind: 'exit', workload: workerOf(MONITOR_ID) });

      expect(await runtime.find(workerOf(MONITOR_ID))).toMatchObject({
        workerId: worker.workerId,
        state: 'exited',
        exitCode: 3,
        restarts: 0,
      });
      const exit = await runtime.lastExit(workerOf(MONITOR_ID));
      expect(exit).toMatchObject({ workload: workerOf(MONITOR_ID), workerId: `process:${pid}`, exitCode: 3 });
      expect(exit!.key).toBe(`process:${pid}@${exit!.exitedAt.toISOString()}`);
      expect(exit!.logTail).toContain('line one');
      expect(exit!.logTail).toContain('fatal: the end');
      expect(event.exit).toEqual(exit); // the event carries the death itself
      // Kept on disk, so another API (or this one restarted) reports the same death under the same key.
      expect(readState().exit).toMatchObject({ key: exit!.key, exitCode: 3 });
      const other = newRuntime();
      expect(await other.lastExit(workerOf(MONITOR_ID))).toEqual(exit);

      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await runtime.list('worker')).toEqual([
        expect.objectContaining({ workerId: worker.workerId, state: 'exited' }),
      ]);

      // Starting again replaces the dead worker with a fresh one that has no death of its own yet.
      const fresh = await runtime.start(specFor());
      expect(fresh.workerId).not.toBe(worker.workerId);
      expect(fresh.state).toBe('running');
      expect(await runtime.lastExit(workerOf(MONITOR_ID))).toBeNull();
    });

    it('reports a signal death as 128 + the signal number', async () => {
      expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
      expect(exitCodeOf(2, null)).toBe(2);
      const runtime = newRuntime();
      const worker = await runtime.start(specFor());
      const exited = nextEvent(runtime, 'exit');
      process.kill(pidOf(worker.workerId), 'SIGKILL');
      await exited;
      expect(await runtime.find(workerOf(MONITOR_ID))).toMatchObject({ state: 'exited', exitCode: 137 });
    });
  });

  describe('stop', () => {
    it('stops the worker with SIGTERM and removes its files; again, or with no worker, is success', async () => {
      const runtime = newRuntime();
      const worker = await runtime.start(specFor());
      const pid = pidOf(worker.workerId);
      const exitEvents: WorkerEvent[] = [];
      runtime.watch((event) => event.kind === 'exit' && exitEvents.push(event));
      const removed = nextEvent(runtime, 'removed');

      await runtime.stop(workerOf(MONITOR_ID));
      expect(await processGone(pid)).toBe(true);
      await expect(removed).resolves.toEqual({ kind: 'removed', workload: workerOf(MONITOR_ID) });
      expect(exitEvents).toEqual([]); // asked to stop: not a death
      expect(fs.existsSync(stateFile())).toBe(false);
      expect(fs.existsSync(path.join(stateDir, `${MONITOR_ID}.log`))).toBe(false);
      expect(await runtime.find(workerOf(MONITOR_ID))).toBeNull();
      expect(await runtime.lastExit(workerOf(MONITOR_ID))).toBeNull();

      await expect(runtime.stop(workerOf(MONITOR_ID))).resolves.toBeUndefined();
      await expect(runtime.stop(workerOf(OTHER_ID))).resolves.toBeUndefined();
    });

    it('kills a worker that ignores SIGTERM once the grace period is over', async () => {
      const runtime = newRuntime({ stopTimeoutMs: 300 });
      const worker = await runtime.start(specFor({ MODE: 'ignore-term' }));
      // Up, with its SIGTERM handler in place (a SIGTERM before it would end it at once).
      await waitFor('the worker to be up', () =>
        fs.readFileSync(path.join(stateDir, `${MONITOR_ID}.log`), 'utf8').includes('SIGTERM handled')
          ? true
          : undefined,
      );
      const warn = jest.mocked(Logger.prototype.warn);
      warn.mockClear();
      await runtime.stop(workerOf(MONITOR_ID));
      // SIGTERM went unanswered for the whole grace period, then SIGKILL: the runtime says so.
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/ignored SIGTERM for 300 ms: killed$/));
      expect(await processGone(pidOf(worker.workerId))).toBe(true);
    });
  });

  describe('workers this API did not start', () => {
    it('adopts a live worker after an API restart, stops it by pid, and sees it die', async () => {
      const first = newRuntime();
      const worker = await first.start(specFor());
      const pid = pidOf(worker.workerId);
      await first.onModuleDestroy(); // the API goes away; the worker stays

      const second = newRuntime();
      expect(await second.list('worker')).toEqual([
        expect.objectContaining({ workerId: worker.workerId, state: 'running', specHash: worker.specHash }),
      ]);
      const again = await second.start(specFor());
      expect(again.workerId).toBe(worker.workerId);

      // No exit event comes for a process that is not our child: the runtime notices by polling.
      const exited = nextEvent(second, 'exit');
      process.kill(pid, 'SIGKILL');
      await expect(exited).resolves.toMatchObject({
        kind: 'exit',
        workload: workerOf(MONITOR_ID),
        exit: { workerId: worker.workerId, exitCode: null },
      });
      expect(await second.find(workerOf(MONITOR_ID))).toMatchObject({ state: 'exited', exitCode: null });
      expect((await second.lastExit(workerOf(MONITOR_ID)))!.key).toMatch(new RegExp(`^process:${pid}@`));
    });

    it('reports one death under one key to every API watching the worker', async () => {
      const owner = newRuntime();
      const worker = await owner.start(specFor());
      const observer = newRuntime();
      expect(await observer.find(workerOf(MONITOR_ID))).toMatchObject({ state: 'running' });
      const seenByOwner = nextEvent(owner, 'exit');
      const seenByObserver = nextEvent(observer, 'exit');
      process.kill(pidOf(worker.workerId), 'SIGKILL');
      const [a, b] = await Promise.all([seenByOwner, seenByObserver]);
      expect(a.exit).toMatchObject({ exitCode: 137 });
      expect(b.exit!.key).toBe(a.exit!.key);
      expect((await observer.lastExit(workerOf(MONITOR_ID)))!.key).toBe(a.exit!.key);
    });

    it('takes a worker stopped from elsewhere for a removal, not a death', async () => {
      const owner = newRuntime();
      const worker = await owner.start(specFor());
      const observer = newRuntime();
      expect(await observer.find(workerOf(MONITOR_ID))).toMatchObject({
        workerId: worker.workerId,
        state: 'running',
      });
      const events: WorkerEvent[] = [];
      observer.watch((event) => events.push(event));

      await owner.stop(workerOf(MONITOR_ID));
      await waitFor('the observer to notice', () => (events.length > 0 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(events).toEqual([{ kind: 'removed', workload: workerOf(MONITOR_ID) }]);
      expect(await observer.find(workerOf(MONITOR_ID))).toBeNull();
      expect(await observer.lastExit(workerOf(MONITOR_ID))).toBeNull();
    });

    it('stops an adopted worker with SIGTERM', async () => {
      const first = newRuntime();
      const worker = await first.start(specFor());
      await first.onModuleDestroy();
      const second = newRuntime();
      await second.stop(workerOf(MONITOR_ID));
      expect(await processGone(pidOf(worker.workerId))).toBe(true);
      expect(fs.existsSync(stateFile())).toBe(false);
    });

    it('instances names every installation with state files, whatever its own instance', async () => {
      const runtime = newRuntime();
      await expect(runtime.instances()).resolves.toEqual([]);
      writeState({ pid: 12345, instance: 'theirs' });
      writeState({ pid: 12346, instance: 'unit' }, OTHER_ID);
      fs.writeFileSync(path.join(stateDir, 'not-a-state-file.json'), '{}');
      await expect(runtime.instances()).resolves.toEqual(expect.arrayContaining(['theirs', 'unit']));
      expect((await runtime.instances()).length).toBe(2);
    });

    it('removes the state of a worker that died while no API watched', async () => {
      const dead = spawnSync(process.execPath, ['-e', '']).pid;
      writeState({ pid: dead });
      fs.writeFileSync(path.join(stateDir, `${MONITOR_ID}.log`), 'old\n');
      const runtime = newRuntime();
      expect(await runtime.list('worker')).toEqual([]);
      expect(fs.existsSync(stateFile())).toBe(false);
      expect(fs.existsSync(path.join(stateDir, `${MONITOR_ID}.log`))).toBe(false);
    });

    it('never takes a reused pid for a worker: not a node process running the program, or not this monitor', async () => {
      const runtime = newRuntime();
      const sleeper = spawnStray(['-e', 'setInterval(() => undefined, 1000)']);
      const otherWorker = spawnStray([script], { MONITOR_ID: OTHER_ID });
      await waitFor('the strays to run', async () =>
        !(await processGone(sleeper.pid!)) && !(await processGone(otherWorker.pid!)) ? true : undefined,
      );
      for (const stray of [sleeper, otherWorker]) {
        writeState({ pid: stray.pid! });
        await expect(runtime.stop(workerOf(MONITOR_ID))).resolves.toBeUndefined();
        writeState({ pid: stray.pid! });
        expect(await runtime.find(workerOf(MONITOR_ID))).toBeNull();
        expect(fs.existsSync(stateFile())).toBe(false);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(sleeper.exitCode).toBeNull();
      expect(otherWorker.exitCode).toBeNull();
      expect(await processGone(sleeper.pid!)).toBe(false);
      expect(await processGone(otherWorker.pid!)).toBe(false);
    });

    it("leaves another installation's workers alone", async () => {
      const theirs = newRuntime({ instance: 'theirs' });
      const worker = await theirs.start(specFor());
      const ours = newRuntime();
      expect(await ours.list('worker')).toEqual([]);
      expect(await ours.find(workerOf(MONITOR_ID))).toBeNull();
      await ours.stop(workerOf(MONITOR_ID));
      expect(await processGone(pidOf(worker.workerId))).toBe(false);
      expect(readState().instance).toBe('theirs');
    });

    it('ignores an unreadable state file', async () => {
      fs.mkdirSync(stateDir, { recursive: true });
      fs.writeFileSync(stateFile(), '{not json');
      fs.writeFileSync(path.join(stateDir, 'notes.json'), '{}');
      const runtime = newRuntime();
      expect(await runtime.list('worker')).toEqual([]);
    });
  });

  describe('specHash', () => {
    it('changes with the environment and the program, and only then', async () => {
      const runtime = newRuntime();
      const base = await runtime.specHash(specFor());
      expect(base).toMatch(/^[0-9a-f]{16}$/);
      expect(await runtime.specHash(specFor())).toBe(base);
      expect(await runtime.specHash(specFor({ LOG_LEVEL: 'debug' }))).not.toBe(base);
      fs.writeFileSync(script, `${FAKE_WORKER}\n// rebuilt\n`);
      expect(await runtime.specHash(specFor())).not.toBe(base);
    });
  });
});
