import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from './util';

const run = promisify(execFile);

/**
 * A Postgres cluster of the test's own: initdb into a temporary folder, its own loopback port, its own
 * socket directory. The fault suites stop and start it at will; the machine's shared Postgres is never
 * touched.
 */
export interface PostgresCluster {
  port: number;
  /** The database the API uses (`pairwatch`). */
  url: string;
  /** The `postgres` database, for admin queries. */
  adminUrl: string;
  dir: string;
  running(): boolean;
  /** pg_ctl stop (fast: open sessions are cut, committed data stays). */
  stop(): Promise<void>;
  /** pg_ctl start on the same port and data. */
  start(): Promise<void>;
  /** Stops (immediately) and deletes the folder. */
  destroy(): Promise<void>;
  /** The server's log, for failure messages. */
  log(): string;
}

/** Where initdb and pg_ctl live: PG_BINDIR, else the newest /usr/lib/postgresql/N/bin, else pg_config. */
export function findPostgresBinaries(): string {
  const candidates: string[] = [];
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR);
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(root, v, 'bin')));
  }
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim());
  } catch {
    // no pg_config on PATH
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
  if (!found) {
    throw new Error(
      `faults: no Postgres server binaries (initdb, pg_ctl) found in ${candidates.join(', ') || root}; ` +
        'install postgresql or set PG_BINDIR',
    );
  }
  return found;
}

/** initdb refuses to run as root: as root, the cluster belongs to the `postgres` OS user. */
function asOwner(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', bin, ...args]];
  return [bin, args];
}

function ownerIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

const live = new Set<() => void>();
process.once('exit', () => {
  for (const cleanup of live) cleanup();
});

export async function startPostgresCluster(database = 'pairwatch'): Promise<PostgresCluster> {
  const bin = findPostgresBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'pairwatch-faults-pg-'));
  const owner = ownerIds();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const port = await freePort();
  let up = false;

  const pg = async (tool: string, args: string[], timeoutMs = 60_000): Promise<void> => {
    const [cmd, argv] = asOwner(join(bin, tool), args);
    try {
      await run(cmd, argv, { timeout: timeoutMs });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`faults: ${tool} ${args.join(' ')} failed: ${e.stderr || e.message}\n${readLog()}`);
    }
  };
  const readLog = (): string => {
    try {
      return readFileSync(logFile, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  const start = async (): Promise<void> => {
    await pg('pg_ctl', [
      'start',
      '-w',
      '-t',
      '30',
      '-D',
      data,
      '-l',
      logFile,
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`,
    ]);
    up = true;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    if (!up) return;
    await pg('pg_ctl', ['stop', '-w', '-t', '30', '-D', data, '-m', mode]);
    up = false;
  };
  const cleanupSync = (): void => {
    if (up) {
      const [cmd, argv] = asOwner(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate']);
      spawnSync(cmd, argv, { stdio: 'ignore', timeout: 10_000 });
      up = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  live.add(cleanupSync);

  try {
    await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await start();
    const admin = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${database}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    cleanupSync();
    live.delete(cleanupSync);
    throw error;
  }

  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    running: () => up,
    stop: () => stop('fast'),
    start,
    destroy: async () => {
      await stop('immediate').catch(() => undefined);
      cleanupSync();
      live.delete(cleanupSync);
    },
    log: readLog,
  };
}
