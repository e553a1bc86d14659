import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** A statement with a fixed text, prepared once per connection under its name. */
export interface PreparedStatement {
  name: string;
  text: string;
  /** 'array': each row comes back as an array of its columns (no object with named keys built per row). */
  rowMode?: 'array';
}

/** The statement for `text`, named after its hash: one text, one name, on every connection. */
export function prepared(text: string, options: { rowMode?: 'array' } = {}): PreparedStatement {
  return { name: `pw_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`, text, ...options };
}

/** What pg's pool.query is given for a statement. */
export function preparedQuery(
  statement: PreparedStatement,
  values: unknown[],
): { name: string; text: string; values: unknown[]; rowMode?: 'array' } {
  const { name, text, rowMode } = statement;
  return rowMode === undefined ? { name, text, values } : { name, text, values, rowMode };
}

/**
 * Runs a statement on the data source's pool as a named prepared statement: Postgres parses and plans it once
 * per connection instead of at every run (for the one-row inserts of a steady alert flow that was over half
 * the statement's time). Used by the hot paths' repositories; the rows come back as the pg driver reads them.
 */
export async function runPrepared<T>(
  dataSource: DataSource,
  statement: PreparedStatement,
  values: unknown[],
): Promise<T[]> {
  const pool = (dataSource.driver as PostgresDriver).master as Pool;
  const result = await pool.query(preparedQuery(statement, values));
  return result.rows as T[];
}

/** What {@link PreparedValueCall} uses of node-postgres' connection (its extended-query messages). */
interface ExtendedQueryConnection {
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
  parse(query: { name: string; text: string; types: number[] }): void;
  bind(config: { portal: string; statement: string; values: Buffer[]; binary: boolean }): void;
  execute(config: { portal: string; rows: number }): void;
  sync(): void;
}

/**
 * One run of a named prepared statement whose parameters are all Buffers (sent as binary) and whose answer is
 * one row of one column, taken as Postgres' text: Parse (once per connection, as node-postgres does), Bind,
 * Execute, Sync, without node-postgres' Query. Its Query asks Postgres to describe the portal at every run
 * (a RowDescription each time, then a Result with its fields, type parsers and a row object per row), which
 * for one row of one column was more of the driver's work than the row. The client's own bookkeeping is kept:
 * the statement is recorded as submitted and, on its ParseComplete, as parsed (pg's Client does both from the
 * active query's `name` and `text`); on an error the Client forgets the submitted statement.
 */
class PreparedValueCall {
  readonly name: string;
  readonly text: string;
  private value: string | null = null;
  private failed = false;
  private resolve!: (value: string | null) => void;
  private reject!: (error: Error) => void;
  readonly done = new Promise<string | null>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });

  constructor(
    statement: PreparedStatement,
    private readonly values: Buffer[],
  ) {
    this.name = statement.name;
    this.text = statement.text;
  }

  submit(connection: ExtendedQueryConnection): null {
    if (connection.parsedStatements[this.name] === undefined) {
      connection.parse({ name: this.name, text: this.text, types: [] });
      connection.submittedNamedStatements[this.name] = this.text;
    }
    connection.bind({ portal: '', statement: this.name, values: this.values, binary: false });
    connection.execute({ portal: '', rows: 0 });
    connection.sync();
    return null;
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    if (this.value === null) this.value = message.fields[0] ?? null;
  }

  handleError(error: Error): void {
    this.failed = true;
    this.reject(error);
  }

  handleReadyForQuery(): void {
    if (!this.failed) this.resolve(this.value);
  }

  // The other answers of an extended query carry nothing this needs.
  handleRowDescription(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
}

/**
 * Runs a statement whose parameters are all Buffers and whose answer is one value (the first column of its
 * first row) as a named prepared statement on a client of the data source's pool, and answers that value as
 * Postgres' text (null when there is no row or it is NULL). For a hot path's insert that answers one array:
 * see {@link PreparedValueCall}. A failed run releases its client as pg's pool.query does (destroyed).
 */
export async function runPreparedValue(
  dataSource: DataSource,
  statement: PreparedStatement,
  values: Buffer[],
): Promise<string | null> {
  const pool = (dataSource.driver as PostgresDriver).master as Pool;
  const client = await pool.connect();
  const call = new PreparedValueCall(statement, values);
  try {
    // A submittable: the client queues it and calls its handlers (it returns the call itself, not a promise).
    (client as unknown as { query(submittable: PreparedValueCall): PreparedValueCall }).query(call);
    const value = await call.done;
    client.release();
    return value;
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
}
