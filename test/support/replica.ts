import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { eventually } from './wait';

/** Where the Postgres server programs are (Debian's postgresql-15). */
export const PG_BIN = process.env.TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * describe() for the suites that make Postgres servers of their own: skipped with a loud line when the server
 * programs are missing, failed in CI (CI=true) instead.
 */
export function describeWithPostgresServer(name: string, fn: () => void): void {
  if (existsSync(join(PG_BIN, 'pg_basebackup'))) {
    describe(name, fn);
    return;
  }
  const reason = `no Postgres server programs in ${PG_BIN} (apt-get install postgresql-15, or set TEST_PG_BIN)`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs the Postgres server programs in CI', () => {
        throw new Error(`the replica suite must run in CI: ${reason}`);
      });
    });
    return;
  }
  console.warn(`!!!! SKIPPED "${name}": ${reason}`);
  describe.skip(`${name} [skipped: ${reason}]`, fn);
}

/** A loopback port nobody listens on now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A primary and its streaming replica, both of this suite's own, in a temporary directory on free loopback
 * ports. Its own primary, not the machine's: a replica needs a `replication` line in the primary's pg_hba.conf,
 * which the shared server does not have (its `all` lines do not cover replication connections), and changing
 * a shared server's access rules for a test is not the test's to do. Made as an operator makes one:
 * `pg_basebackup -R` from the primary (the standby's primary_conninfo and standby.signal written by it),
 * then `pg_ctl start` on the copy.
 */
export class StreamingPair {
  readonly primaryUrl: string;
  readonly replicaUrl: string;
  private readonly primaryDir: string;
  private readonly replicaDir: string;

  private constructor(
    private readonly root: string,
    private readonly primaryPort: number,
    private readonly replicaPort: number,
  ) {
    this.primaryDir = join(root, 'primary');
    this.replicaDir = join(root, 'replica');
    this.primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/postgres`;
    this.replicaUrl = `postgres://postgres@127.0.0.1:${replicaPort}/postgres`;
  }

  static async start(): Promise<StreamingPair> {
    const root = mkdtempSync(join(tmpdir(), 'pairwatch-replica-'));
    const pair = new StreamingPair(root, await freePort(), await freePort());
    try {
      await pair.make();
    } catch (error) {
      await pair.close();
      throw error;
    }
    return pair;
  }

  /** Stops replaying WAL on the replica (it still receives it): its lag grows while the primary writes. */
  async pauseReplay(): Promise<void> {
    await this.onReplica('SELECT pg_wal_replay_pause()');
  }

  async resumeReplay(): Promise<void> {
    await this.onReplica('SELECT pg_wal_replay_resume()');
  }

  /** Stops the replica at once (as a crash would). */
  stopReplica(): void {
    this.pgCtl(['-D', this.replicaDir, '-m', 'immediate', 'stop']);
  }

  async startReplica(): Promise<void> {
    this.pgCtl([
      '-D',
      this.replicaDir,
      '-l',
      join(this.root, 'replica.log'),
      '-w',
      '-o',
      this.options(this.replicaPort),
      'start',
    ]);
    await this.waitForStandby();
  }

  /** A query on the replica, through a connection of its own. */
  async onReplica<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.replicaUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  /** Stops both servers and removes their files. */
  async close(): Promise<void> {
    for (const dir of [this.replicaDir, this.primaryDir]) {
      if (existsSync(join(dir, 'postmaster.pid'))) {
        try {
          this.pgCtl(['-D', dir, '-m', 'immediate', 'stop']);
        } catch {
          // Already stopped.
        }
      }
    }
    rmSync(this.root, { recursive: true, force: true });
    await Promise.resolve();
  }

  private async make(): Promise<void> {
    if (process.getuid?.() === 0) chownSync(this.root, ...postgresIds());
    this.run('initdb', ['-D', this.primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    this.pgCtl([
      '-D',
      this.primaryDir,
      '-l',
      join(this.root, 'primary.log'),
      '-w',
      '-o',
      `${this.options(this.primaryPort)} -c wal_level=replica -c max_wal_senders=4`,
      'start',
    ]);
    // initdb's pg_hba.conf lets replication connections in from loopback (trust, as --auth says).
    this.run('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(this.primaryPort),
      '-U',
      'postgres',
      '-D',
      this.replicaDir,
      '-R',
      '-X',
      'stream',
      '--checkpoint=fast',
    ]);
    await this.startReplica();
  }

  private async waitForStandby(): Promise<void> {
    await eventually('the replica to accept connections as a standby', async () => {
      const [row] = await this.onReplica<{ standby: boolean; streaming: boolean }>(
        `SELECT pg_is_in_recovery() AS standby, EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming`,
      );
      return row.standby && row.streaming ? true : undefined;
    });
  }

  /** Settings of either server: loopback only, its socket in the temporary directory, small and unsynced. */
  private options(port: number): string {
    return `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.root} -c fsync=off -c shared_buffers=16MB -c max_connections=40`;
  }

  private pgCtl(args: string[]): void {
    this.run('pg_ctl', args);
  }

  /** Runs a Postgres program, as the postgres user when this is root (the server refuses to run as root). */
  private run(program: string, args: string[]): void {
    const path = join(PG_BIN, program);
    const [file, argv] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    execFileSync(file, argv, { stdio: 'pipe', timeout: 120_000 });
  }
}

/** The postgres user's uid and gid. */
function postgresIds(): [number, number] {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return [uid, gid];
}
