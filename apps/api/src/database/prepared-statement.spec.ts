import type { DataSource } from 'typeorm';
import { prepared, runPreparedValue } from './prepared-statement';

describe('prepared', () => {
  it('names a text the same way every time, and different texts differently', () => {
    const a = prepared('SELECT 1');
    expect(a).toEqual({ name: prepared('SELECT 1').name, text: 'SELECT 1' });
    expect(a.name).toMatch(/^pw_[0-9a-f]{16}$/);
    expect(prepared('SELECT 2').name).not.toBe(a.name);
  });
});

/** What node-postgres' Client does with a submittable, reduced to the messages and the answers. */
interface Handlers {
  submit(connection: unknown): null;
  handleRowDescription(message: unknown): void;
  handleDataRow(message: { fields: (string | null)[] }): void;
  handleCommandComplete(message: unknown): void;
  handleError(error: Error): void;
  handleReadyForQuery(): void;
}

function fakePool(answer: (call: Handlers) => void) {
  const sent: string[] = [];
  const connection = {
    parsedStatements: {} as Record<string, string>,
    submittedNamedStatements: {} as Record<string, string>,
    parse: (query: { name: string }) => sent.push(`parse ${query.name}`),
    bind: (config: { statement: string; values: Buffer[] }) =>
      sent.push(`bind ${config.statement} ${config.values.length}`),
    execute: () => sent.push('execute'),
    sync: () => sent.push('sync'),
    describe: () => sent.push('describe'),
  };
  const released: (Error | undefined)[] = [];
  const client = {
    query: (call: Handlers) => {
      call.submit(connection);
      setImmediate(() => answer(call));
      return call;
    },
    release: (error?: Error) => released.push(error),
  };
  const dataSource = {
    driver: { master: { connect: () => Promise.resolve(client) } },
  } as unknown as DataSource;
  return { dataSource, connection, sent, released };
}

describe('runPreparedValue', () => {
  const statement = prepared('SELECT $1::text[]');

  it('parses once per connection, never asks for a description, and answers the first value as text', async () => {
    const pool = fakePool((call) => {
      call.handleDataRow({ fields: ['{1,3}', 'x'] });
      call.handleDataRow({ fields: ['{9}'] });
      call.handleCommandComplete({});
      call.handleReadyForQuery();
    });
    await expect(runPreparedValue(pool.dataSource, statement, [Buffer.from('a')])).resolves.toBe('{1,3}');
    expect(pool.sent).toEqual([`parse ${statement.name}`, `bind ${statement.name} 1`, 'execute', 'sync']);
    expect(pool.connection.submittedNamedStatements[statement.name]).toBe(statement.text);
    // The Client records it as parsed on its ParseComplete.
    pool.connection.parsedStatements[statement.name] = statement.text;
    pool.sent.length = 0;
    await runPreparedValue(pool.dataSource, statement, [Buffer.from('a'), Buffer.from('b')]);
    expect(pool.sent).toEqual([`bind ${statement.name} 2`, 'execute', 'sync']);
    expect(pool.released).toEqual([undefined, undefined]);
  });

  it('answers null without a row', async () => {
    const pool = fakePool((call) => call.handleReadyForQuery());
    await expect(runPreparedValue(pool.dataSource, statement, [])).resolves.toBeNull();
  });

  it('rejects with the error and releases the client with it (destroyed, as pool.query does)', async () => {
    const error = new Error('duplicate key');
    const pool = fakePool((call) => call.handleError(error));
    await expect(runPreparedValue(pool.dataSource, statement, [])).rejects.toBe(error);
    expect(pool.released).toEqual([error]);
  });
});
