/**
 * Where a worker's start goes (issue 8, part 5): the real DockerRuntime starts worker containers (the API's
 * create → start → inspect path, hardened as shipped) against the fake ticker, and each one is followed to its
 * first tick. Per worker:
 *
 * - create: the engine's createContainer call; start: the start call and the inspection after it;
 * - node: from the engine's State.StartedAt to the worker's first log line ("worker started", its own pino time);
 * - first tick: from that line to the worker's lastTickAt in Redis (Redis connect, the first ticker request).
 *
 * Rounds: BENCH_PROBE_SEQUENTIAL workers one after another, then BENCH_PROBE_BATCH at once. The baseline of the same
 * run is `docker run`'s nearest equivalent without node: the same hardened container running `node -e 0`
 * (node's own start-up under the same CPU limit).
 *
 *   flock /work/wt/bench.lock env WORKER_IMAGE=pairwatch-worker:<tag> npm run bench:worker-start
 *
 * Containers labelled pairwatch.instance=bench-probe, removed at the end; Redis BENCH_REDIS_URL (emptied).
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import Redis from 'ioredis';
import {
  legacyMoveRule,
  parseWorkerState,
  standaloneRedis,
  toWorkerEnv,
  workerStateKey,
} from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { syntheticPairs } from '../apps/fake-ticker/src/fake-ticker.config';
import { DockerRuntime } from '../apps/api/src/runtime/docker.runtime';
import { BENCH_REDIS_URL, fmt, median, sleep, until } from './support/bench-env';

const WORKER_IMAGE = process.env.WORKER_IMAGE ?? 'pairwatch-worker:latest';
const SEQUENTIAL = Number(process.env.BENCH_PROBE_SEQUENTIAL ?? 5);
const BATCH = Number(process.env.BENCH_PROBE_BATCH ?? 10);
const MILLICPUS = Number(process.env.BENCH_PROBE_MILLICPUS ?? 250);
const INSTANCE = 'bench-probe';

const docker = new Docker();

interface Timing {
  createMs: number;
  startMs: number;
  nodeMs: number;
  firstTickMs: number;
  totalMs: number;
}

async function removeOwn(): Promise<void> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`pairwatch.instance=${INSTANCE}`] },
  });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}

function firstLogTime(raw: Buffer): number | undefined {
  // The engine's multiplexed log: 8-byte frame headers before each chunk.
  const text = raw.toString('utf8');
  const line = text.split('\n').find((l) => l.includes('"worker started"'));
  const match = line ? /"time":"([^"]+)"/.exec(line) : null;
  return match ? Date.parse(match[1]) : undefined;
}

async function main(): Promise<void> {
  const pairs = syntheticPairs(SEQUENTIAL + BATCH, ['USD']);
  const ticker = new FakeUpholdServer();
  for (const pair of pairs) ticker.setQuote(pair, { ask: '100.5', bid: '100.4' });
  const tickerUrl = (await ticker.start(0, '127.0.0.1')).url;
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  await removeOwn();
  // The create and the start are timed apart by watching the engine's create calls.
  const createdAt = new Map<string, number>();
  const timedDocker = Object.create(docker) as Docker;
  timedDocker.createContainer = async (options) => {
    const container = await docker.createContainer(options);
    createdAt.set(options.name ?? '', Date.now());
    return container;
  };
  const runtime = new DockerRuntime(
    {
      workerImage: WORKER_IMAGE,
      workerNetwork: 'host',
      instance: INSTANCE,
      workerLimits: {
        memoryBytes: 128 * 1024 * 1024,
        nanoCpus: MILLICPUS * 1_000_000,
        pids: 64,
        maxRestarts: 5,
      },
    },
    timedDocker,
  );
  await runtime.ensureReady();

  const startOne = async (pair: string): Promise<Timing> => {
    const monitorId = randomUUID();
    const env = toWorkerEnv({
      monitorId,
      pair,
      intervalMs: 5000,
      rules: [legacyMoveRule({ thresholdPercent: '5' })],
      upholdApiUrl: tickerUrl,
      redis: standaloneRedis(BENCH_REDIS_URL),
      requestTimeoutMs: 5000,
      logLevel: 'info',
    });
    const spec = {
      role: 'worker' as const,
      monitor: {
        monitorId,
        pair,
        intervalMs: 5000,
        rules: [legacyMoveRule({ thresholdPercent: '5' })],
      },
      env,
    };
    const t0 = Date.now();
    const worker = await runtime.start(spec);
    const startedCall = Date.now();
    let tickAt = 0;
    await until(
      `${pair}'s first tick`,
      async () => {
        const parsed = parseWorkerState(await redis.hgetall(workerStateKey(monitorId)));
        if (parsed.ok && parsed.state.lastTickAt) tickAt = Date.parse(parsed.state.lastTickAt);
        return tickAt > 0;
      },
      60_000,
      20,
    );
    const info = await docker.getContainer(worker.workerId).inspect();
    const raw = await docker
      .getContainer(worker.workerId)
      .logs({ stdout: true, stderr: true, follow: false });
    const processStarted = Date.parse(info.State.StartedAt);
    const logged = firstLogTime(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))) ?? NaN;
    const created = createdAt.get(worker.name) ?? NaN;
    return {
      createMs: created - t0,
      startMs: startedCall - created,
      nodeMs: logged - processStarted,
      firstTickMs: tickAt - logged,
      totalMs: tickAt - t0,
    };
  };

  const baseline = async (): Promise<number> => {
    const container = await docker.createContainer({
      Image: WORKER_IMAGE,
      Entrypoint: ['node', '-e', '0'],
      User: '10001:10001',
      Labels: { 'pairwatch.instance': INSTANCE },
      HostConfig: {
        NetworkMode: 'host',
        NanoCpus: MILLICPUS * 1_000_000,
        Memory: 128 * 1024 * 1024,
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
      },
    });
    await container.start();
    await container.wait();
    const info = await container.inspect();
    await container.remove({ force: true });
    return Date.parse(info.State.FinishedAt) - Date.parse(info.State.StartedAt);
  };

  const show = (name: string, timings: Timing[]) => {
    const col = (key: keyof Timing) => `${key} ${fmt(median(timings.map((t) => t[key])))} ms`;
    console.log(
      `  ${name} (${timings.length}): median ${col('createMs')}, ${col('startMs')}, ${col('nodeMs')}, ` +
        `${col('firstTickMs')}, ${col('totalMs')}; max total ${fmt(Math.max(...timings.map((t) => t.totalMs)))} ms`,
    );
  };

  try {
    const nodeAlone: number[] = [];
    for (let i = 0; i < 3; i++) nodeAlone.push(await baseline());
    const sequential: Timing[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) sequential.push(await startOne(pairs[i]));
    await sleep(1000);
    const batchStart = Date.now();
    const batch = await Promise.all(pairs.slice(SEQUENTIAL).map((pair) => startOne(pair)));
    const batchMs = Date.now() - batchStart;
    console.log(
      `worker start-up: image ${WORKER_IMAGE}, CPU limit ${MILLICPUS} millicpus, load average ` +
        (await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    );
    console.log(
      `  baseline: node -e 0 in the same hardened container, StartedAt → FinishedAt median ${fmt(median(nodeAlone))} ms`,
    );
    show('one at a time', sequential);
    show(`${BATCH} at once`, batch);
    console.log(`  ${BATCH} at once: all ticking ${fmt(batchMs)} ms after the first create`);
  } finally {
    await removeOwn().catch(() => undefined);
    await ticker.stop();
    await redis.flushdb();
    redis.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
