import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { keyHashSlot } from '@pairwatch/contracts';
import { freePort, sleep } from './faults/util';
import { eventually } from './wait';

/**
 * Redis set-ups of the tests' own, from Debian's redis-server on free loopback ports, each in a temporary folder:
 * a Sentinel set (one master, two replicas, three sentinels) and a Cluster (three masters with two replicas
 * each). Nothing persists (no RDB, no AOF): a node killed and started again comes back empty, as a cache node
 * would. Every process is killed when the test process exits, whatever happened.
 */

const run = promisify(execFile);
const BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';

const live = new Set<() => void>();
process.once('exit', () => {
  for (const cleanup of live) cleanup();
});

/** One redis-server (or sentinel) process; `start` again after a kill reuses its port and folder. */
export class RedisProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  constructor(
    readonly role: string,
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  running(): boolean {
    return this.child !== undefined;
  }

  output(): string {
    return this.log;
  }

  /** Starts the process; resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.child) return;
    mkdirSync(this.dir, { recursive: true });
    const proc = spawn(BIN, this.args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => (this.log = (this.log + chunk.toString()).slice(-20_000));
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.child = proc;
    this.exited = new Promise<void>((resolve) =>
      proc.once('exit', () => {
        if (this.child === proc) this.child = undefined;
        resolve();
      }),
    );
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (this.child !== proc) throw new Error(`${this.role} exited at start: ${this.log.slice(-2000)}`);
      const probe = new Redis(this.port, '127.0.0.1', {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        // not yet
      } finally {
        probe.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`${this.role} did not answer: ${this.log.slice(-2000)}`);
      await sleep(50);
    }
  }

  /** Sends `signal` (SIGKILL: no shutdown at all) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.child) return;
    this.child.kill(signal);
    await this.exited;
  }

  killSync(): void {
    this.child?.kill('SIGKILL');
  }
}

function serverArgs(port: number, dir: string, extra: string[] = []): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
    ...extra,
  ];
}

/** A short-lived client of one process, for admin commands. */
async function ask<T>(port: number, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(port, '127.0.0.1', {
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

async function ports(count: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < count) out.add(await freePort());
  return [...out];
}

function track(processes: () => RedisProcess[], dir: string): () => void {
  const cleanup = (): void => {
    for (const p of processes()) p.killSync();
    rmSync(dir, { recursive: true, force: true });
  };
  live.add(cleanup);
  return cleanup;
}

export interface SentinelSet {
  name: string;
  servers: RedisProcess[];
  sentinels: RedisProcess[];
  /** The API's (and workers') variables for this set. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** The server the sentinels name as master now. */
  master(): Promise<RedisProcess>;
  /** Waits until the sentinels name another master than `previous`, and it answers as one; returns it. */
  promoted(previous: RedisProcess, timeoutMs?: number): Promise<RedisProcess>;
  destroy(): Promise<void>;
}

/** One master, two replicas, three sentinels (quorum 2), failing over one second after the master stops answering. */
export async function startSentinelSet(name = 'pairwatch'): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'pairwatch-sentinel-'));
  const [m, r1, r2, s1, s2, s3] = await ports(6);
  const servers = [m, r1, r2].map(
    (port, i) =>
      new RedisProcess(
        i === 0 ? 'master' : `replica ${i}`,
        port,
        join(dir, `server-${port}`),
        serverArgs(port, join(dir, `server-${port}`), i === 0 ? [] : ['--replicaof', '127.0.0.1', String(m)]),
      ),
  );
  const sentinels = [s1, s2, s3].map((port) => {
    const home = join(dir, `sentinel-${port}`);
    mkdirSync(home, { recursive: true });
    const conf = join(home, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${home}`,
        `sentinel monitor ${name} 127.0.0.1 ${m} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 2`,
        '',
      ].join('\n'),
    );
    return new RedisProcess('sentinel', port, home, [conf, '--sentinel', '--loglevel', 'warning']);
  });
  const cleanup = track(() => [...servers, ...sentinels], dir);
  const byPort = (port: number) => servers.find((s) => s.port === port);

  const masterPort = async (): Promise<number | undefined> => {
    for (const sentinel of sentinels.filter((s) => s.running())) {
      try {
        const addr = (await ask(sentinel.port, (r) =>
          r.call('SENTINEL', 'get-master-addr-by-name', name),
        )) as [string, string] | null;
        if (addr) return Number(addr[1]);
      } catch {
        // that sentinel is away: ask the next
      }
    }
    return undefined;
  };
  const set: SentinelSet = {
    name,
    servers,
    sentinels,
    env: (extra = {}) => ({
      REDIS_MODE: 'sentinel',
      REDIS_URL: 'redis://127.0.0.1',
      REDIS_SENTINELS: sentinels.map((s) => s.address).join(','),
      REDIS_SENTINEL_NAME: name,
      ...extra,
    }),
    master: async () => {
      const port = await masterPort();
      const server = port === undefined ? undefined : byPort(port);
      if (!server) throw new Error('the sentinels name no master of this set');
      return server;
    },
    promoted: (previous, timeoutMs = 30_000) =>
      eventually(
        'a replica promoted by the sentinels',
        async () => {
          const port = await masterPort();
          const server = port === undefined ? undefined : byPort(port);
          if (!server || server === previous || !server.running()) return undefined;
          const role = (await ask(server.port, (r) => r.call('ROLE')).catch(() => [])) as unknown[];
          return role[0] === 'master' ? server : undefined;
        },
        timeoutMs,
        100,
      ),
    destroy: async () => {
      await Promise.all([...servers, ...sentinels].map((p) => p.kill()));
      cleanup();
      live.delete(cleanup);
    },
  };
  try {
    await servers[0].start();
    await Promise.all(servers.slice(1).map((s) => s.start()));
    await eventually(
      'both replicas in sync',
      async () => {
        const info = await ask(m, (r) => r.info('replication'));
        return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === 2 ? true : undefined;
      },
      20_000,
      100,
    );
    await Promise.all(sentinels.map((s) => s.start()));
    await eventually(
      'every sentinel knowing the replicas and the other sentinels',
      async () => {
        for (const s of sentinels) {
          const master = (await ask(s.port, (r) => r.call('SENTINEL', 'master', name))) as string[];
          const fields = Object.fromEntries(master.map((v, i, all) => [v, all[i + 1]]));
          if (Number(fields['num-slaves']) !== 2 || Number(fields['num-other-sentinels']) !== 2)
            return undefined;
        }
        return true;
      },
      30_000,
      200,
    );
  } catch (error) {
    await set.destroy();
    throw error;
  }
  return set;
}

export interface RedisClusterSet {
  nodes: RedisProcess[];
  env(extra?: Record<string, string>): Record<string, string>;
  /** The master serving `key`'s slot now, and its replicas (by CLUSTER SHARDS asked of a live node). */
  shardOf(key: string): Promise<{ master: RedisProcess; replicas: RedisProcess[] }>;
  /** Waits until every live node says cluster_state:ok and `key`'s slot has a master other than `previous`. */
  promoted(key: string, previous: RedisProcess, timeoutMs?: number): Promise<RedisProcess>;
  /** Waits until every live node says cluster_state `state`. */
  state(state: 'ok' | 'fail', timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * Three masters with two replicas each (`redis-cli --cluster create --cluster-replicas 2`), a node judged
 * failed after two seconds of silence (cluster-node-timeout 2000).
 */
export async function startRedisCluster(): Promise<RedisClusterSet> {
  const dir = mkdtempSync(join(tmpdir(), 'pairwatch-cluster-'));
  const all = await ports(18);
  const nodes = Array.from({ length: 9 }, (_, i) => {
    const port = all[i];
    const home = join(dir, `node-${port}`);
    return new RedisProcess(
      `cluster node ${i}`,
      port,
      home,
      serverArgs(port, home, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '2000',
        '--cluster-port',
        String(all[9 + i]),
      ]),
    );
  });
  const cleanup = track(() => nodes, dir);
  const byPort = (port: number) => nodes.find((n) => n.port === port);

  const shards = async (): Promise<{ slots: number[]; master?: number; replicas: number[] }[]> => {
    for (const node of nodes.filter((n) => n.running())) {
      try {
        const raw = (await ask(node.port, (r) => r.call('CLUSTER', 'SHARDS'))) as unknown[][];
        return raw.map((shard) => {
          const fields = Object.fromEntries(shard.map((v, i, a) => [String(v), a[i + 1]]));
          const members = (fields.nodes as unknown[][]).map((n) =>
            Object.fromEntries(n.map((v, i, a) => [String(v), a[i + 1]])),
          );
          const up = members.filter((n) => n.health === 'online');
          return {
            slots: (fields.slots as number[]).map(Number),
            master: up.find((n) => n.role === 'master')?.port as number | undefined,
            replicas: up.filter((n) => n.role === 'replica').map((n) => Number(n.port)),
          };
        });
      } catch {
        // ask the next node
      }
    }
    throw new Error('no cluster node answers');
  };
  const shardFor = async (key: string) => {
    const slot = keyHashSlot(key);
    const found = (await shards()).find((s) => {
      for (let i = 0; i + 1 < s.slots.length; i += 2)
        if (slot >= s.slots[i] && slot <= s.slots[i + 1]) return true;
      return false;
    });
    return found;
  };
  const state = (wanted: 'ok' | 'fail', timeoutMs = 30_000): Promise<void> =>
    eventually(
      `every live cluster node in state ${wanted}`,
      async () => {
        for (const node of nodes.filter((n) => n.running())) {
          const info = await ask(node.port, (r) => r.call('CLUSTER', 'INFO')).catch(() => '');
          if (!String(info).includes(`cluster_state:${wanted}`)) return undefined;
        }
        return true;
      },
      timeoutMs,
      100,
    ).then(() => undefined);

  const set: RedisClusterSet = {
    nodes,
    env: (extra = {}) => ({
      REDIS_MODE: 'cluster',
      REDIS_URL: 'redis://127.0.0.1',
      REDIS_CLUSTER_NODES: nodes
        .slice(0, 3)
        .map((n) => n.address)
        .join(','),
      ...extra,
    }),
    shardOf: async (key) => {
      const shard = await shardFor(key);
      const master = shard?.master === undefined ? undefined : byPort(shard.master);
      if (!shard || !master) throw new Error(`no master serves ${key}`);
      return { master, replicas: shard.replicas.map((p) => byPort(p)!).filter(Boolean) };
    },
    promoted: (key, previous, timeoutMs = 30_000) =>
      eventually(
        `a replica promoted for ${key}`,
        async () => {
          const shard = await shardFor(key).catch(() => undefined);
          const master = shard?.master === undefined ? undefined : byPort(shard.master);
          if (!master || master === previous || !master.running()) return undefined;
          const info = await ask(master.port, (r) => r.call('CLUSTER', 'INFO')).catch(() => '');
          return String(info).includes('cluster_state:ok') ? master : undefined;
        },
        timeoutMs,
        100,
      ),
    state,
    destroy: async () => {
      await Promise.all(nodes.map((n) => n.kill()));
      cleanup();
      live.delete(cleanup);
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await run(
      CLI,
      ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '2', '--cluster-yes'],
      {
        timeout: 60_000,
      },
    );
    await state('ok', 60_000);
    await eventually(
      'three shards of a master and two replicas each',
      async () => {
        const found = await shards();
        return found.length === 3 && found.every((s) => s.master !== undefined && s.replicas.length === 2)
          ? true
          : undefined;
      },
      30_000,
      200,
    );
  } catch (error) {
    await set.destroy();
    throw error;
  }
  return set;
}
