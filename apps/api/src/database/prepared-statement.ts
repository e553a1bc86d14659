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
