import { randomUUID } from 'node:crypto';
import { parse as parseQueryString } from 'node:querystring';
import fc from 'fast-check';
import request from 'supertest';
import { Decimal, type AlertEvent } from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { AlertsRepository } from '../apps/api/src/alerts/alerts.repository';
import { LABELS } from '../apps/api/src/runtime/worker-runtime';
import { describeWithDocker, docker, removeAllWorkers, workerContainers } from './support/docker';
import { eventually, startApi, TestApi } from './support/api';
import { TEST_ENV, testDatabaseUrl, testRedisUrl } from './support/test-env';
import type { ErrorBody } from './support/bodies';

/**
 * Hostile input, end to end against the real API: property-based tests (fast-check) over the body, the query
 * and the path of every endpoint, tampered cursors, the body size limit, the API key, the monitor-creation rate
 * limit, and what reaches a worker container.
 *
 * Runs are reproducible: the seed is fixed unless FC_SEED is set (a number, or "random"); on failure fast-check
 * prints the seed and the path of the shrunk counterexample.
 */
const FC_SEED =
  process.env.FC_SEED === 'random'
    ? Math.floor(Math.random() * 2 ** 31)
    : Number(process.env.FC_SEED ?? 20_251_124);

function runs(numRuns: number): fc.Parameters<unknown> {
  return { numRuns, seed: FC_SEED };
}

const KNOWN_PAIRS = ['BTC-USD', 'ETH-USD', 'XRP-USD', 'BTC-EUR'];
const BODY_LIMIT_BYTES = 16 * 1024;

// ---------------------------------------------------------------------------------------------------------
// What a valid monitor body is, written down here independently of the DTO: the properties compare the API's
// answer with it, so a body the API accepts but should refuse (or the other way round) fails the test.
// ---------------------------------------------------------------------------------------------------------

const MONITOR_FIELDS = ['pair', 'intervalMs', 'thresholdPercent', 'priceField', 'direction', 'cooldownMs'];
const isWhole = (v: unknown, min: number, max: number) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const FIELD_VALID: Record<string, (v: unknown) => boolean> = {
  pair: (v) => typeof v === 'string' && /^[A-Za-z0-9]{2,12}-[A-Za-z0-9]{2,12}$/.test(v),
  intervalMs: (v) => v === undefined || isWhole(v, 1000, 3_600_000),
  thresholdPercent: (v) =>
    v === undefined ||
    (typeof v === 'number' &&
      Number.isFinite(v) &&
      v > 0 &&
      v <= 1000 &&
      new Decimal(v).decimalPlaces() <= 10),
  priceField: (v) => v === undefined || v === 'ask' || v === 'bid' || v === 'mid',
  direction: (v) => v === undefined || v === 'both' || v === 'up' || v === 'down',
  cooldownMs: (v) => v === undefined || isWhole(v, 0, 86_400_000),
};

/** A value as the API receives it: what JSON makes of it (NaN → null, -0 → 0, undefined → absent). */
function asSent<T>(value: T): unknown {
  const text = JSON.stringify({ value });
  return (JSON.parse(text) as { value?: unknown }).value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The fields a body should be refused for (`body` when it is not an object); empty when it is valid. */
function expectedBadFields(body: unknown): string[] {
  if (!isPlainObject(body)) return ['body'];
  const bad = new Set<string>();
  if (!Object.prototype.hasOwnProperty.call(body, 'pair')) bad.add('pair');
  for (const [key, value] of Object.entries(body)) {
    const valid = Object.prototype.hasOwnProperty.call(FIELD_VALID, key) ? FIELD_VALID[key] : undefined;
    if (!valid || !valid(value)) bad.add(key);
  }
  return [...bad];
}

// ---------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------

/** Pieces of text that have fooled validators, shells, SQL, Docker or terminals somewhere. */
const NASTY = [
  '\u202E', // right-to-left override
  '\u202D',
  '\u200F', // right-to-left mark
  '\u200B', // zero width space
  '\u200D', // zero width joiner
  '\uFEFF',
  '\u00A0',
  '\u0000',
  '\u0007',
  '\u001B[31m',
  '\n',
  '\r\n',
  '\t',
  '💲',
  '👨‍👩‍👧',
  '🏳️‍🌈',
  'ВТС', // Cyrillic look-alikes of BTC
  'ı', // dotless i upper-cases to I
  'ß', // upper-cases to SS
  'ﬀ', // upper-cases to FF
  'İ',
  'ＢＴＣ', // full width
  'B\u0301',
  '٣',
  '𝟘',
  '\uD800', // lone surrogates
  '\uDFFF',
  '$(id)',
  '`id`',
  ';rm -rf /',
  '&&',
  '|',
  '../',
  '..\\',
  '%00',
  '%2e%2e%2f',
  '${PATH}',
  "' OR 1=1 --",
  '"; DROP TABLE monitors; --',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '\\',
  '"',
  '=',
  ',',
  'BTC-USD',
  'btc-usd',
  '-',
  'API_KEY=x',
  'pairwatch.managed=true',
  '--privileged',
];

const nastyText = fc.array(fc.constantFrom(...NASTY), { minLength: 1, maxLength: 12 }).map((p) => p.join(''));

/** A currency-code look-alike: letters, digits, unicode and noise. */
const code = fc.oneof(
  fc.constantFrom(
    'BTC',
    'usd',
    'Eth',
    'X',
    'ABCDEFGHIJKLM',
    'ВТС',
    'ＢＴＣ',
    'bıt',
    'ßß',
    'ﬀx',
    '12',
    'B\u200BTC',
  ),
  fc.string({ unit: 'grapheme-ascii', minLength: 0, maxLength: 14 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }),
);
const nearPair = fc
  .tuple(code, fc.constantFrom('-', '-', '_', ' - ', '—', '\u2010', '', '--', '-\u200B'), code)
  .map(([a, sep, b]) => `${a}${sep}${b}`);

/** Huge strings, up to about 20 kB (the body limit is 16 kB). */
const hugeText = fc
  .tuple(
    fc.constantFrom('x', '€', '💲', '\u200B', 'BTC-USD', '\u202E'),
    fc.integer({ min: 1000, max: 20_000 }),
  )
  .map(([unit, bytes]) => unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit))));

const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  nastyText,
  nearPair,
  { arbitrary: hugeText, weight: 1 },
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-Infinity',
    '5000',
    '1e3',
    '0x10',
    '-0',
    '',
    ' 5000',
    '0.5',
    'null',
    'true',
  ),
  fc.constantFrom('ask', 'bid', 'mid', 'both', 'up', 'down', 'ASK', 'Both', 'ask ', 'last', 'sideways'),
);

const hostileNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.double({ min: -1e7, max: 1e7, noNaN: true }),
  fc.constantFrom(
    1e308,
    -1e308,
    -0,
    5e-324,
    Number.MAX_SAFE_INTEGER + 2,
    2 ** 53,
    1e21,
    0.1 + 0.2,
    999,
    1000.5,
    3_600_001,
    86_400_001,
    -1,
    0,
    1e-11,
    0.12345678901,
    1000.0000000001,
  ),
);

/** A deeply nested object or array, as JSON parsers and validators sometimes recurse on them. */
const deeplyNested = fc.tuple(fc.integer({ min: 10, max: 800 }), fc.boolean()).map(([depth, arrays]) => {
  let value: unknown = 'BTC-USD';
  for (let i = 0; i < depth; i++) value = arrays ? [value] : { pair: value };
  return value;
});

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: hostileString, weight: 4 },
  { arbitrary: hostileNumber, weight: 3 },
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }),
  fc.array(fc.constantFrom(...KNOWN_PAIRS, 5000, 0.5, 'ask'), { minLength: 1, maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
  fc.constant({ pair: 'BTC-USD' }),
  deeplyNested,
);

/** Names of fields the API does not take: look-alikes, Docker's own words, prototype keys. */
const hostileKey = fc
  .oneof(
    fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      'valueOf',
      'isPrototypeOf',
      'env',
      'Env',
      'image',
      'Image',
      'Labels',
      'name',
      'Cmd',
      'Entrypoint',
      'HostConfig',
      'Privileged',
      'API_KEY',
      'id',
      'status',
      'workerId',
      'PAIR',
      'Pair',
      'pair ',
      ' pair',
      'pair\u200B',
      'intervalms',
      'interval_ms',
      '',
      'a.b',
      'errors',
      '0',
    ),
    fc.string({ maxLength: 20 }),
    fc.string({ unit: 'grapheme', maxLength: 6 }),
  )
  .filter((key) => !MONITOR_FIELDS.includes(key));

const validMonitorBody = fc.record(
  {
    pair: fc
      .constantFrom(...KNOWN_PAIRS)
      .chain((pair) => fc.constantFrom(pair, pair.toLowerCase(), `${pair[0].toLowerCase()}${pair.slice(1)}`)),
    intervalMs: fc.integer({ min: 1000, max: 3_600_000 }),
    thresholdPercent: fc.integer({ min: 1, max: 10_000_000 }).map((n) => n / 10_000),
    priceField: fc.constantFrom('ask', 'bid', 'mid'),
    direction: fc.constantFrom('both', 'up', 'down'),
    cooldownMs: fc.integer({ min: 0, max: 86_400_000 }),
  },
  { requiredKeys: ['pair'] },
);

/** A value that is wrong for `field` as the API receives it; for `pair` also "no pair at all". */
function invalidValueFor(field: string): fc.Arbitrary<unknown> {
  const values = field === 'pair' ? fc.oneof(hostileValue, fc.constant(undefined)) : hostileValue;
  return values.filter((value) => !FIELD_VALID[field](asSent(value)));
}

/** A valid body with some fields made wrong and/or unknown fields added; always invalid. */
const mutatedMonitorBody = fc
  .tuple(
    validMonitorBody,
    fc
      .subarray(MONITOR_FIELDS)
      .chain((fields) => fc.tuple(...fields.map((f) => invalidValueFor(f).map((v) => [f, v] as const)))),
    fc.array(fc.tuple(hostileKey, hostileValue), { maxLength: 3 }),
  )
  .filter(([, broken, extra]) => broken.length + extra.length > 0)
  .map(([valid, broken, extra]) => {
    const body: Record<string, unknown> = { ...valid };
    for (const [field, value] of broken) body[field] = value;
    for (const [key, value] of extra)
      Object.defineProperty(body, key, { value, enumerable: true, configurable: true, writable: true });
    return body;
  });

/** Whole bodies of any shape. */
const anyBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.anything({ maxDepth: 3 }),
  fc.object({ maxDepth: 3 }),
  fc.array(validMonitorBody, { maxLength: 3 }),
  fc.dictionary(fc.oneof(fc.constantFrom(...MONITOR_FIELDS), hostileKey), hostileValue, { maxKeys: 6 }),
  hostileString,
  deeplyNested,
);

/**
 * JSON text written by hand: number spellings JSON.stringify never makes, duplicate keys, broken JSON. The pair
 * is one the ticker does not know, so a body that passes validation is answered 422 (proof that it passed)
 * without starting a worker for each.
 */
const numberToken = fc.oneof(
  fc.constantFrom(
    '-0',
    '1e400',
    '-1e400',
    '1E3',
    '1000.0',
    '1000.000000000000000000001',
    '5e3',
    '0x10',
    '01000',
    '1_000',
    'NaN',
    'Infinity',
    '1e-400',
    '.5',
    '+1000',
    '1000e0',
    '2e-7',
    '"5000"',
    'null',
    'true',
    '[]',
    '{}',
  ),
  fc.stringMatching(/^-?\d{1,25}(\.\d{1,25})?([eE][+-]?\d{1,4})?$/),
);
const rawJsonBody = fc.oneof(
  fc
    .tuple(fc.constantFrom('intervalMs', 'thresholdPercent', 'cooldownMs'), numberToken)
    .map(([field, token]) => `{"pair":"DOGE-XYZ","${field}":${token}}`),
  fc.constantFrom(
    '{"pair":"DOGE-XYZ","pair":"../etc"}',
    '{"pair":"../etc","pair":"DOGE-XYZ"}',
    '{"pair":"\\u0044OGE-XYZ"}',
    '{"pair":"BTC-USD\\u0000"}',
    '{"pair":"BTC-USD\\ud800"}',
    '{"pair":"BTC-USD"}garbage',
    '{"pair":"BTC-USD",}',
    "{'pair':'BTC-USD'}",
    '{"pair":"BTC-USD"',
    '',
    ' ',
    'null',
    '"BTC-USD"',
    '42',
    '[]',
    '[{"pair":"BTC-USD"}]',
    '{"__proto__":{"pair":"DOGE-XYZ"}}',
    '{"pair":"DOGE-XYZ","__proto__":{"isAdmin":true}}',
    '{"pair":"DOGE-XYZ","constructor":{"prototype":{"x":1}}}',
  ),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }),
);

/** Percent-encodes every byte but the unreserved ones, so any text (lone surrogates too) goes on the wire. */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

/** Text for a URL: percent-encoded, or raw with malformed escapes and query syntax that parsers disagree on. */
const urlText = (text: fc.Arbitrary<string>) =>
  fc.oneof(
    { arbitrary: text.map(percentEncode), weight: 4 },
    fc
      .array(
        fc.constantFrom(
          '%',
          '%zz',
          '%E0%A4%A',
          '%00',
          '%2',
          '+',
          '%2B',
          '[]',
          '[a]',
          ';',
          ',',
          '%25',
          'a',
          '%C0%AF',
        ),
        {
          minLength: 1,
          maxLength: 6,
        },
      )
      .map((parts) => parts.join('')),
  );

/** Any ISO-like instant, from the edges of what a JS Date holds to malformed ones. */
const isoish = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z') })
    .map((d) => d.toISOString()),
  fc
    .tuple(
      fc.stringMatching(/^[+-]?\d{4,6}$/),
      fc.integer({ min: 0, max: 19 }),
      fc.integer({ min: 0, max: 39 }),
      fc.integer({ min: 0, max: 29 }),
      fc.constantFrom('Z', '+00:00', '+14:00', '-12:00', '+99:99', '', '.123456789Z'),
    )
    .map(
      ([year, month, day, hour, zone]) =>
        `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00${zone}`,
    ),
  fc.constantFrom(
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00Z',
    '-000001-01-01T00:00:00Z',
    '+275760-09-13T00:00:00.000Z',
    '-271821-04-20T00:00:00.000Z',
    '9999-12-31T23:59:59.999Z',
    '2025-02-29T00:00:00Z',
    '2024-02-29T00:00:00Z',
    '2025-01-01',
    '2025',
    '2025-W01',
    '2025-W01-1',
    '2025-001',
    '2025-002',
    '+0600-01-01T00:00:00Z',
    '20250101T000000Z',
    '2025-01-01T00:00:00,5Z',
    '2025-01-01T10:00:00',
    'P1D',
    '1700000000000',
  ),
);

const ALERT_PARAMS = ['pair', 'monitorId', 'since', 'until', 'limit', 'cursor'];

function queryValueFor(name: string, realCursors: string[]): fc.Arbitrary<string> {
  const valid: Record<string, fc.Arbitrary<string>> = {
    pair: fc.constantFrom(...KNOWN_PAIRS, 'btc-usd', 'DOGE-XYZ'),
    monitorId: fc.oneof(
      fc.uuid(),
      fc.uuid().map((u) => u.toUpperCase()),
    ),
    since: isoish,
    until: isoish,
    limit: fc.oneof(fc.integer({ min: -1000, max: 100_000 }).map(String), fc.stringMatching(/^-?\d{1,12}$/)),
    cursor: fc.constantFrom(...realCursors),
  };
  return fc.oneof(
    valid[name] ?? hostileString.filter((s) => s.length < 300),
    hostileString.filter((s) => s.length < 300),
  );
}

const unknownParam = fc
  .oneof(
    fc.constantFrom(
      'offset',
      'order',
      'sort',
      'toString',
      'constructor',
      '__proto__',
      'prototype',
      'hasOwnProperty',
      'valueOf',
      'pair[]',
      'pair[0]',
      'pair[toString]',
      'Pair',
      'LIMIT',
      'limit ',
      'a.b',
      '',
      '$where',
    ),
    fc.string({ minLength: 1, maxLength: 12 }),
  )
  .filter((name) => !ALERT_PARAMS.includes(name) && name !== 'status');

/** A query string and what Express makes of it (the "simple" parser is node:querystring). */
function queryArbitrary(params: string[], valueFor: (name: string) => fc.Arbitrary<string>) {
  const entry = fc.oneof(
    {
      arbitrary: fc
        .constantFrom(...params)
        .chain((name) => fc.tuple(fc.constant(percentEncode(name)), urlText(valueFor(name)).map(String))),
      weight: 5,
    },
    {
      arbitrary: fc.tuple(urlText(unknownParam), urlText(hostileString.filter((s) => s.length < 200))),
      weight: 1,
    },
  );
  return fc.array(entry, { maxLength: 8 }).map((entries) => {
    const query = entries.map(([k, v]) => `${k}=${v}`).join('&');
    return { query, parsed: parseQueryString(query) };
  });
}

/** A 4xx answer in pairwatch's shape: the status, a non-empty list of sentences, and fields when it lists them. */
function expectErrorShape(status: number, body: unknown): ErrorBody {
  const error = body as ErrorBody;
  expect(status).toBeGreaterThanOrEqual(400);
  expect(status).toBeLessThan(500);
  expect(error.statusCode).toBe(status);
  expect(Array.isArray(error.message)).toBe(true);
  expect(error.message.length).toBeGreaterThan(0);
  for (const sentence of error.message)
    expect(typeof sentence === 'string' && sentence.length > 0).toBe(true);
  for (const entry of error.errors ?? []) {
    expect(typeof entry.field).toBe('string');
    expect(entry.messages.length).toBeGreaterThan(0);
  }
  return error;
}

async function countRows(api: TestApi, table: 'monitors' | 'alerts'): Promise<number> {
  const [{ count }] = await api.db.query<{ count: number }[]>(`SELECT count(*)::int AS count FROM ${table}`);
  return count;
}

function makeAlert(i: number, monitorId: string): AlertEvent {
  return {
    id: randomUUID(),
    monitorId,
    pair: KNOWN_PAIRS[i % KNOWN_PAIRS.length],
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: i % 2 === 0 ? 'up' : 'down',
    priceField: 'ask',
    referencePrice: '100.5',
    price: '101.5',
    changePercent: '0.99502487',
    thresholdPercent: '0.5',
    intervalMs: 5000,
    // Two alerts per instant, so pages break inside one observed_at and the id decides.
    observedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, Math.floor(i / 2))).toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------------------

describeWithDocker('hostile input: generated bodies, queries and paths', () => {
  let ticker: FakeUpholdServer;
  let api: TestApi;
  let cursors: string[] = [];
  const monitorId = randomUUID();
  const tally = { validBodies: 0, refusedBodies: 0, tooLarge: 0, okQueries: 0, refusedQueries: 0 };

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    for (const pair of KNOWN_PAIRS) ticker.setQuote(pair, { ask: '100.5', bid: '100.4' });
    api = await startApi({
      env: {
        UPHOLD_API_URL: ticker.url,
        // Throttling would answer 429 before the input is even looked at; it has a test of its own.
        MONITOR_CREATE_LIMIT_PER_MIN: '1000000',
        UPHOLD_RATE_LIMIT_PER_MIN: '100000',
      },
    });
    await api.app
      .get(AlertsRepository)
      .insertBatch(Array.from({ length: 40 }, (_, i) => makeAlert(i, monitorId)));
    // Real cursors, to be tampered with and to page with.
    let cursor: string | null = null;
    do {
      const page: request.Response = await request(api.url)
        .get('/alerts')
        .query({ limit: '7', ...(cursor ? { cursor } : {}) })
        .expect(200);
      cursor = (page.body as { nextCursor: string | null }).nextCursor;
      if (cursor) cursors.push(cursor);
    } while (cursor);
    expect(cursors.length).toBeGreaterThan(3);
  });

  afterAll(async () => {
    console.info(`hostile-input: fast-check seed ${FC_SEED}; ${JSON.stringify(tally)}`);
    cursors = [];
    await api?.close();
    await ticker?.stop();
  });

  /** Removes monitors and workers, keeping the seeded alerts. */
  async function removeMonitors(): Promise<void> {
    await api.db.query('TRUNCATE monitors, worker_exits');
    await removeAllWorkers();
  }

  // A failed run must not leave a monitor that makes the next runs fail for another reason (409, a list).
  afterEach(() => removeMonitors());

  /** Sends one body (a value, or raw JSON text) and checks the answer against the oracle. */
  async function postAndCheck(body: { value: unknown } | { raw: string }): Promise<void> {
    const text = 'raw' in body ? body.raw : JSON.stringify(body.value);
    const res = await request(api.url)
      .post('/monitors')
      .set('content-type', 'application/json')
      .send(text ?? '');
    try {
      await checkPostAnswer(res, text);
    } finally {
      if (res.status === 201) await removeMonitors();
    }
  }

  async function checkPostAnswer(res: request.Response, text: string | undefined): Promise<void> {
    expect(res.status).toBeLessThan(500);

    let parsed: { ok: true; value: unknown } | { ok: false };
    try {
      // body-parser reads an empty JSON body as {}.
      parsed = { ok: true, value: text ? (JSON.parse(text) as unknown) : {} };
    } catch {
      parsed = { ok: false };
    }

    if (Buffer.byteLength(text ?? '') > BODY_LIMIT_BYTES) {
      tally.tooLarge++;
      expect(res.status).toBe(413);
      expect(expectErrorShape(res.status, res.body).message).toEqual(['request body is too large']);
    } else if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) {
      // Not JSON, or JSON but not an object or array: the parser refuses it (strict mode).
      tally.refusedBodies++;
      expect(res.status).toBe(400);
      expect(expectErrorShape(res.status, res.body).message[0]).toMatch(/JSON/);
    } else {
      const bad = expectedBadFields(parsed.value);
      if (bad.length > 0) {
        tally.refusedBodies++;
        expect(res.status).toBe(400);
        const error = expectErrorShape(res.status, res.body);
        // Every wrong field is named, and nothing else.
        expect(new Set(error.errors?.map((e) => e.field))).toEqual(new Set(bad));
      } else {
        // Valid: created (or refused at the ticker for an unknown pair); undone so the next run starts clean.
        tally.validBodies++;
        const value = parsed.value as { pair: string };
        if (KNOWN_PAIRS.includes(value.pair.toUpperCase())) {
          expect(res.status).toBe(201);
          const created = res.body as { id: string; pair: string };
          expect(created.pair).toBe(value.pair.toUpperCase());
          expect(await countRows(api, 'monitors')).toBe(1);
          expect(await workerContainers()).toHaveLength(1);
          await request(api.url).delete(`/monitors/${created.id}`).expect(204);
          return;
        }
        expect(res.status).toBe(422);
        expect(expectErrorShape(res.status, res.body).errors?.map((e) => e.field)).toEqual(['pair']);
      }
    }
    expect(await countRows(api, 'monitors')).toBe(0);
    expect(await workerContainers()).toHaveLength(0);
  }

  it('POST /monitors: bodies of any shape are refused field by field, never 5xx, leaving nothing', async () => {
    await fc.assert(
      fc.asyncProperty(anyBody, (value) => postAndCheck({ value })),
      runs(500),
    );
  });

  it('POST /monitors: valid bodies with fields made wrong or added are refused naming exactly those fields', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedMonitorBody, (value) => postAndCheck({ value })),
      runs(800),
    );
  });

  it('POST /monitors: hand-written JSON (odd number spellings, duplicate keys, broken text) agrees with the rules', async () => {
    await fc.assert(
      fc.asyncProperty(rawJsonBody, (raw) => postAndCheck({ raw })),
      runs(200),
    );
  });

  it('GET /alerts: any query is answered 200 or 400 naming only parameters that were sent', async () => {
    await fc.assert(
      fc.asyncProperty(
        queryArbitrary(ALERT_PARAMS, (name) => queryValueFor(name, cursors)),
        async ({ query, parsed }) => {
          const res = await request(api.url).get(`/alerts?${query}`);
          expect(res.status).toBeLessThan(500);
          if (res.status === 200) {
            tally.okQueries++;
            const page = res.body as { items: unknown[]; nextCursor: string | null };
            expect(Array.isArray(page.items)).toBe(true);
            expect(page.nextCursor === null || typeof page.nextCursor === 'string').toBe(true);
            // A query the API answers has no unknown or repeated parameter.
            for (const [name, value] of Object.entries(parsed)) {
              expect(ALERT_PARAMS).toContain(name);
              expect(typeof value).toBe('string');
            }
            return;
          }
          tally.refusedQueries++;
          expect(res.status).toBe(400);
          const fields = new Set(expectErrorShape(res.status, res.body).errors?.map((e) => e.field));
          expect(fields.size).toBeGreaterThan(0);
          const sent = Object.keys(parsed);
          for (const field of fields) expect(sent).toContain(field);
          for (const [name, value] of Object.entries(parsed)) {
            if (!ALERT_PARAMS.includes(name)) expect(fields).toContain(name);
            if (Array.isArray(value)) expect(fields).toContain(name);
          }
        },
      ),
      runs(1500),
    );
    expect(await countRows(api, 'alerts')).toBe(40);
    expect(await countRows(api, 'monitors')).toBe(0);
  });

  it('GET /monitors: any query is answered 200 or 400 naming only parameters that were sent', async () => {
    const status = fc.oneof(
      fc.constantFrom('starting', 'running', 'stopped', 'failed', 'RUNNING', 'running ', ''),
      hostileString.filter((s) => s.length < 300),
    );
    await fc.assert(
      fc.asyncProperty(
        queryArbitrary(['status'], () => status),
        async ({ query, parsed }) => {
          const res = await request(api.url).get(`/monitors?${query}`);
          expect(res.status).toBeLessThan(500);
          const valid = Object.entries(parsed).every(
            ([name, value]) =>
              name === 'status' &&
              typeof value === 'string' &&
              ['starting', 'running', 'stopped', 'failed'].includes(value),
          );
          if (valid) {
            expect(res.status).toBe(200);
            expect(res.body).toEqual([]);
            return;
          }
          expect(res.status).toBe(400);
          const fields = expectErrorShape(res.status, res.body).errors?.map((e) => e.field) ?? [];
          expect(fields.length).toBeGreaterThan(0);
          for (const field of fields) expect(Object.keys(parsed)).toContain(field);
        },
      ),
      runs(300),
    );
    expect(await countRows(api, 'monitors')).toBe(0);
  });

  it('GET, DELETE /monitors/:id and POST /monitors/:id/restart: any id is 400 naming id, or 404 for a UUID', async () => {
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    const id = fc.oneof(
      { arbitrary: fc.string({ minLength: 1, maxLength: 60 }), weight: 3 },
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
      nastyText,
      fc.uuid(),
      fc.uuid().map((u) => u.toUpperCase()),
      fc
        .uuid()
        .chain((u) =>
          fc.constantFrom(`${u} `, ` ${u}`, `${u}\n`, `{${u}}`, `${u}'--`, u.replace(/-/g, ''), `${u}/x`),
        ),
      fc.constantFrom(
        '00000000-0000-0000-0000-000000000000',
        'ffffffff-ffff-ffff-ffff-ffffffffffff',
        '.',
        '..',
        '...',
        '%',
        'null',
        'undefined',
        '0',
        '-1',
        "1' OR '1'='1",
        '1;DROP TABLE monitors',
        '*',
      ),
      fc.integer({ min: 1000, max: 9000 }).map((n) => 'a'.repeat(n)),
    );
    const method = fc.constantFrom('get', 'delete', 'restart');
    await fc.assert(
      fc.asyncProperty(method, urlText(id.filter((s) => s !== '.' && s !== '..')), async (how, encoded) => {
        const path = `/monitors/${encoded}`;
        const res =
          how === 'get'
            ? await request(api.url).get(path)
            : how === 'delete'
              ? await request(api.url).delete(path)
              : await request(api.url).post(`${path}/restart`);
        expect(res.status).toBeLessThan(500);
        const error = expectErrorShape(res.status, res.body);
        let decoded: string | undefined;
        try {
          decoded = decodeURIComponent(encoded);
        } catch {
          decoded = undefined;
        }
        if (decoded !== undefined && UUID.test(decoded)) {
          expect(res.status).toBe(404);
        } else if (decoded !== undefined && !decoded.includes('/')) {
          expect(res.status).toBe(400);
          expect(error.errors?.map((e) => e.field)).toEqual(['id']);
        } else {
          // A malformed escape, or a slash that leads to no route: refused before any handler.
          expect([400, 404]).toContain(res.status);
        }
      }),
      runs(1000),
    );
    expect(await countRows(api, 'monitors')).toBe(0);
    expect(await workerContainers()).toHaveLength(0);
  });

  it('GET /alerts: tampered cursors are refused with 400 naming cursor, never a SQL error', async () => {
    const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
    const shape = fc.record(
      {
        v: fc.oneof(fc.constant(1), fc.constant('1'), fc.constant(2), fc.jsonValue({ maxDepth: 1 })),
        t: fc.oneof(isoish, fc.string(), fc.jsonValue({ maxDepth: 1 })),
        id: fc.oneof(
          fc.uuid(),
          fc.uuid().map((u) => u.toUpperCase()),
          fc.string(),
          fc.constant("x' OR 1=1 --"),
        ),
        extra: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    );
    const flipOne = fc
      .tuple(fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'))
      .map(([i, c]) => {
        const real = cursors[i % cursors.length];
        const at = i % real.length;
        return `${real.slice(0, at)}${c}${real.slice(at + 1)}`;
      });
    // Right shape, any instant: the edges of the JS calendar are where Postgres disagrees.
    const nearValid = fc
      .record({ v: fc.constant(1), t: isoish, id: fc.uuid() })
      .map((c) => base64url(JSON.stringify(c)));
    const cursor = fc.oneof(
      { arbitrary: nearValid, weight: 2 },
      fc.stringMatching(/^[A-Za-z0-9_-]{1,220}$/),
      shape.map((s) => base64url(JSON.stringify(s))),
      fc.jsonValue({ maxDepth: 2 }).map((v) => base64url(JSON.stringify(v))),
      fc.string({ unit: 'binary', maxLength: 60 }).map(base64url),
      shape.map((s) => Buffer.from(JSON.stringify(s)).toString('base64')),
      flipOne,
      fc.constantFrom(...cursors).map((c) => `${c}=`),
      fc.constantFrom(...cursors).map((c) => c.slice(0, -2)),
      hostileString.filter((s) => s.length < 400),
    );
    /** What the API may accept: its own format, with an instant Postgres can store. */
    const acceptable = (text: string): boolean => {
      // An empty cursor is no cursor: the first page.
      if (text === '') return true;
      if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return false;
      try {
        const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Record<string, unknown>;
        return (
          typeof c === 'object' &&
          c !== null &&
          c.v === 1 &&
          typeof c.t === 'string' &&
          !Number.isNaN(new Date(c.t).getTime()) &&
          new Date(c.t).toISOString() === c.t &&
          // Postgres's timestamptz starts in 4714 BC.
          new Date(c.t).getTime() >= Date.UTC(-4712, 0, 1) &&
          typeof c.id === 'string' &&
          /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(c.id)
        );
      } catch {
        return false;
      }
    };
    await fc.assert(
      fc.asyncProperty(cursor, async (text) => {
        const res = await request(api.url).get(`/alerts?cursor=${percentEncode(text)}`);
        expect(res.status).toBeLessThan(500);
        if (res.status === 200) {
          expect(acceptable(text)).toBe(true);
          return;
        }
        expect(res.status).toBe(400);
        expect(expectErrorShape(res.status, res.body).errors?.map((e) => e.field)).toEqual(['cursor']);
        expect(JSON.stringify(res.body)).not.toMatch(/SQL|syntax|relation|column|QueryFailed|timestamp/i);
      }),
      runs(500),
    );
  });

  it.each([
    ['since', '-271821-04-20T00:00:00.000Z'],
    ['since', '+275760-09-13T00:00:00.000Z'],
    ['until', '-000001-01-01T00:00:00Z'],
    ['until', '0000-01-01T00:00:00Z'],
    ['since', '9999-12-31T23:59:59.999+14:00'],
    [
      'cursor',
      Buffer.from(
        '{"v":1,"t":"-271821-04-20T00:00:00.000Z","id":"00000000-0000-4000-8000-000000000000"}',
      ).toString('base64url'),
    ],
    [
      'cursor',
      Buffer.from(
        '{"v":1,"t":"+275760-09-13T00:00:00.000Z","id":"00000000-0000-4000-8000-000000000000"}',
      ).toString('base64url'),
    ],
    [
      'cursor',
      Buffer.from(
        '{"v":1,"t":"0000-01-01T00:00:00.000Z","id":"00000000-0000-4000-8000-000000000000"}',
      ).toString('base64url'),
    ],
  ])('answers %s=%s at the edge of the calendar without a 5xx', async (name, value) => {
    const res = await request(api.url).get(`/alerts?${name}=${encodeURIComponent(value)}`);
    expect(res.status).toBeLessThan(500);
    if (res.status !== 200)
      expect(expectErrorShape(res.status, res.body).errors?.map((e) => e.field)).toEqual([name]);
  });

  // Strict ISO-8601 that a JS Date cannot read (a 500 from Postgres) or misreads (2025-002 as February).
  it.each([
    ['since', '2025-W01'],
    ['since', '+0600-01-01T00:00:00Z'],
    ['until', '20250101T000000Z'],
    ['until', '2025-01-01T00:00:00,5Z'],
    ['since', '2025-002'],
    ['until', '2025-01-01T10:00:00'],
  ])('refuses %s=%s with 400 naming it', async (name, value) => {
    const res = await request(api.url).get(`/alerts?${name}=${encodeURIComponent(value)}`);
    expect(res.status).toBe(400);
    expect(expectErrorShape(res.status, res.body).errors?.map((e) => e.field)).toEqual([name]);
  });

  it('pages through the whole history with real cursors, in order', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: request.Response = await request(api.url)
        .get('/alerts')
        .query({ limit: '7', ...(cursor ? { cursor } : {}) })
        .expect(200);
      const body = page.body as { items: { id: string }[]; nextCursor: string | null };
      seen.push(...body.items.map((a) => a.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(40);
    expect(new Set(seen).size).toBe(40);
  });
});

describeWithDocker('hostile input: fixed cases', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi({ env: { MONITOR_CREATE_LIMIT_PER_MIN: '1000000' } });
  });

  afterAll(async () => {
    await api?.close();
  });

  it.each([
    ['just over the limit', 'x'.repeat(17 * 1024)],
    ['far over the limit', '💲'.repeat(64 * 1024)],
  ])('refuses a body %s with 413 in the error shape, creating nothing', async (_label, padding) => {
    const res = await request(api.url)
      .post('/monitors')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ pair: 'BTC-USD', padding }));
    expect(res.status).toBe(413);
    expect(expectErrorShape(res.status, res.body).message).toEqual(['request body is too large']);
    expect(await countRows(api, 'monitors')).toBe(0);
  });

  it('refuses a 17 kB body whatever its content type says', async () => {
    const res = await request(api.url)
      .post('/monitors')
      .set('content-type', 'application/json; charset=utf-8')
      .send(`{"pair":"BTC-USD","x":"${'y'.repeat(17 * 1024)}"}`);
    expect(res.status).toBe(413);
  });

  it('answers an overlong URL with a 4xx, not a 5xx', async () => {
    const res = await request(api.url).get(`/alerts?pair=${'A'.repeat(20 * 1024)}`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  it.each([
    ['a body that is not JSON', 'text/plain', 'pair=BTC-USD'],
    ['a form', 'application/x-www-form-urlencoded', 'pair=BTC-USD'],
  ])('refuses %s with 400 naming the body, creating nothing', async (_label, type, text) => {
    const res = await request(api.url).post('/monitors').set('content-type', type).send(text);
    expect(res.status).toBe(400);
    expect(expectErrorShape(res.status, res.body).errors?.map((e) => e.field)).toEqual(['body']);
    expect(await countRows(api, 'monitors')).toBe(0);
  });

  it.each(['null', '"BTC-USD"', '5'])(
    'refuses JSON that is not an object (%s) as that, not as invalid JSON, creating nothing',
    async (text) => {
      const res = await request(api.url).post('/monitors').set('content-type', 'application/json').send(text);
      expect(res.status).toBe(400);
      expect(expectErrorShape(res.status, res.body).message).toEqual(['request body must be a JSON object']);
      expect(await countRows(api, 'monitors')).toBe(0);
    },
  );

  // curl -d without -H 'content-type: application/json' sends a form: the answer said the JSON object it
  // carried was not a JSON object.
  it('tells a JSON object sent without its content type what to send it with', async () => {
    const res = await request(api.url)
      .post('/monitors')
      .set('content-type', 'application/x-www-form-urlencoded')
      .send('{"pair":"BTC-USD"}');
    expect(res.status).toBe(400);
    expect(expectErrorShape(res.status, res.body).message).toEqual([
      'request body must be a JSON object, sent with content-type: application/json',
    ]);
    expect(await countRows(api, 'monitors')).toBe(0);
  });
});

describeWithDocker('hostile input: API_KEY', () => {
  let api: TestApi;
  const key = `pw-${randomUUID()}`;
  const lastCharChanged = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`;
  const id = randomUUID();

  beforeAll(async () => {
    api = await startApi({ env: { API_KEY: key, MONITOR_CREATE_LIMIT_PER_MIN: '1000000' } });
  });

  afterAll(async () => {
    await api?.close();
  });

  // With the right key each call passes the guard and is answered by its handler (no side effects: the body is
  // invalid, the monitor does not exist).
  const calls: [string, (r: request.Agent | ReturnType<typeof request>) => request.Test, number][] = [
    ['POST /monitors', (r) => r.post('/monitors').send({ pair: 'not a pair' }), 400],
    ['GET /monitors', (r) => r.get('/monitors'), 200],
    ['GET /monitors/:id', (r) => r.get(`/monitors/${id}`), 404],
    ['DELETE /monitors/:id', (r) => r.delete(`/monitors/${id}`), 404],
    ['POST /monitors/:id/restart', (r) => r.post(`/monitors/${id}/restart`), 404],
    ['GET /alerts', (r) => r.get('/alerts'), 200],
  ];
  const wrongKeys: [string, string | undefined][] = [
    ['no key', undefined],
    ['an empty key', ''],
    ['a wrong key', 'wrong-horse-battery-staple'],
    ['the key with its last character changed', lastCharChanged],
    ['the key without its last character', key.slice(0, -1)],
    ['the key and one more character', `${key}x`],
    ['the key in upper case', key.toUpperCase()],
    ['a 4 kB key', 'k'.repeat(4096)],
  ];

  describe.each(calls)('%s', (_name, call, authorised) => {
    it.each(wrongKeys)('refuses %s with 401 naming X-API-Key', async (_label, given) => {
      const req = call(request(api.url));
      if (given !== undefined) req.set('X-API-Key', given);
      const res = await req;
      expect(res.status).toBe(401);
      const error = expectErrorShape(res.status, res.body);
      expect(error.errors?.map((e) => e.field)).toEqual(['X-API-Key']);
      expect(JSON.stringify(res.body)).not.toContain(key);
    });

    it(`answers ${authorised} with the right key`, async () => {
      const res = await call(request(api.url)).set('X-API-Key', key);
      expect(res.status).toBe(authorised);
    });
  });

  it('keeps /health, /docs and /docs-json open', async () => {
    const health = await request(api.url).get('/health');
    expect([200, 503]).toContain(health.status);
    expect(health.body).toMatchObject({ postgres: { status: 'up' } });
    await request(api.url).get('/docs').redirects(1).expect(200);
    await request(api.url).get('/docs-json').expect(200);
  });

  it('never creates anything for a refused request', async () => {
    await request(api.url).post('/monitors').send({ pair: 'BTC-USD' }).expect(401);
    await request(api.url)
      .post('/monitors')
      .set('X-API-Key', lastCharChanged)
      .send({ pair: 'BTC-USD' })
      .expect(401);
    expect(await countRows(api, 'monitors')).toBe(0);
    expect(await workerContainers()).toHaveLength(0);
  });
});

describeWithDocker('hostile input: monitor creation rate limit', () => {
  let ticker: FakeUpholdServer;
  let api: TestApi;
  const key = `throttle-key-${randomUUID()}`;
  const post = (path: string) => request(api.url).post(path).set('X-API-Key', key);

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    // No pair is known: every well-formed POST is refused at the ticker (422) and starts no worker.
    api = await startApi({
      env: { UPHOLD_API_URL: ticker.url, MONITOR_CREATE_LIMIT_PER_MIN: '3', API_KEY: key },
    });
  });

  afterAll(async () => {
    await api?.close();
    await ticker?.stop();
  });

  it('answers the 4th start within a minute with 429 and Retry-After; reads stay open', async () => {
    // Requests without the key are refused before they are counted: they cannot use up a client's budget.
    for (let i = 0; i < 5; i++)
      await request(api.url).post('/monitors').send({ pair: 'NOPE-USD' }).expect(401);

    // Creations and restarts share one budget.
    await post('/monitors').send({ pair: 'NOPE-USD' }).expect(422);
    await post(`/monitors/${randomUUID()}/restart`).expect(404);
    // A refused body counts too: the limit is on attempts.
    await post('/monitors').send({ pair: 'x' }).expect(400);

    for (const attempt of [
      () => post('/monitors').send({ pair: 'NOPE-USD' }),
      () => post(`/monitors/${randomUUID()}/restart`),
    ]) {
      const res = await attempt();
      expect(res.status).toBe(429);
      const retryAfter = Number(res.headers['retry-after']);
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const error = expectErrorShape(res.status, res.body);
      expect(Object.keys(res.body as object).sort()).toEqual(['message', 'statusCode']);
      expect(error.message[0]).toMatch(/at most 3 a minute/);
      expect(res.headers).not.toHaveProperty('retry-after-monitor-create');
    }

    // Reads are not throttled.
    const read = (path: string) => request(api.url).get(path).set('X-API-Key', key);
    for (let i = 0; i < 10; i++) {
      await read('/monitors').expect(200);
      await read('/alerts').expect(200);
      await read(`/monitors/${randomUUID()}`).expect(404);
    }
    await request(api.url).delete(`/monitors/${randomUUID()}`).set('X-API-Key', key).expect(404);
    await request(api.url)
      .get('/health')
      .expect((res) => expect(res.status).not.toBe(429));
    expect(await countRows(api, 'monitors')).toBe(0);
  });
});

describeWithDocker('hostile input: what reaches a worker container', () => {
  let ticker: FakeUpholdServer;
  let api: TestApi;
  const key = `container-key-${randomUUID()}`;
  const dbPassword = `db-pass-${randomUUID()}`;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    ticker.setQuote('ETH-USD', { ask: '2500.5', bid: '2500.1' });
    const databaseUrl = new URL(testDatabaseUrl());
    // The test Postgres trusts local connections, so a password in the URL is accepted and ignored.
    databaseUrl.password = dbPassword;
    api = await startApi({
      env: { UPHOLD_API_URL: ticker.url, API_KEY: key, DATABASE_URL: databaseUrl.toString() },
    });
  });

  afterAll(async () => {
    await api?.close();
    await ticker?.stop();
  });

  it('gives the container only the validated monitor fields: name, labels, command and environment', async () => {
    // Hostile extras are refused outright…
    for (const extra of [
      { env: { API_KEY: 'x', NODE_OPTIONS: '--require /tmp/evil.js' } },
      { Image: 'alpine', Cmd: ['sh', '-c', 'id'] },
      { name: '../../evil', Labels: { 'pairwatch.instance': 'other' } },
      { pair: 'eth-usd;id' },
      { pair: 'eth-usd\nLABEL=x' },
    ]) {
      const res = await request(api.url)
        .post('/monitors')
        .set('X-API-Key', key)
        .send({ pair: 'eth-usd', ...extra });
      expect(res.status).toBe(400);
    }
    expect(await workerContainers()).toHaveLength(0);

    // …and a valid body, with a lower-case pair, starts exactly one worker.
    const res = await request(api.url)
      .post('/monitors')
      .set('X-API-Key', key)
      .send({
        pair: 'eth-usd',
        intervalMs: 2000,
        thresholdPercent: 0.25,
        priceField: 'mid',
        direction: 'down',
        cooldownMs: 1000,
      })
      .expect(201);
    const monitor = res.body as { id: string; pair: string; workerId: string };
    expect(monitor.pair).toBe('ETH-USD');
    const containers = await workerContainers(monitor.id);
    expect(containers).toHaveLength(1);

    const info = await docker.getContainer(containers[0].Id).inspect();
    const image = await docker.getImage(TEST_ENV.workerImage).inspect();

    expect(info.Name).toBe(`/pairwatch-worker-eth-usd-${monitor.id}`);
    expect(info.Id).toBe(monitor.workerId);

    // Labels: the image's own, untouched, plus exactly the runtime's pairwatch.* set.
    const imageLabels = image.Config.Labels ?? {};
    const added = Object.fromEntries(
      Object.entries(info.Config.Labels ?? {}).filter(([name, value]) => imageLabels[name] !== value),
    );
    expect(added).toEqual({
      [LABELS.managed]: 'true',
      [LABELS.instance]: TEST_ENV.instance,
      [LABELS.monitorId]: monitor.id,
      [LABELS.pair]: 'ETH-USD',
      [LABELS.role]: 'worker',
      [LABELS.specHash]: expect.stringMatching(/^[0-9a-f]{16,}$/),
    });
    for (const [name, value] of Object.entries(imageLabels)) expect(info.Config.Labels[name]).toBe(value);

    // Command: the image's own; pairwatch sets neither Cmd nor Entrypoint.
    expect(info.Config.Entrypoint).toEqual(image.Config.Entrypoint);
    expect(info.Config.Cmd ?? null).toEqual(image.Config.Cmd ?? null);
    expect([info.Path, ...info.Args]).toEqual([
      ...((image.Config.Entrypoint as string[] | null) ?? []),
      ...(image.Config.Cmd ?? []),
    ]);

    // Environment: the image's variables, unchanged, and exactly the worker's.
    const env = (list: string[] | null | undefined) =>
      Object.fromEntries(
        (list ?? []).map((entry) => [
          entry.slice(0, entry.indexOf('=')),
          entry.slice(entry.indexOf('=') + 1),
        ]),
      );
    const imageEnv = env(image.Config.Env);
    const containerEnv = env(info.Config.Env);
    const workerEnv = Object.fromEntries(
      Object.entries(containerEnv).filter(([name]) => !(name in imageEnv)),
    );
    expect(workerEnv).toEqual({
      MONITOR_ID: monitor.id,
      PAIR: 'ETH-USD',
      INTERVAL_MS: '2000',
      THRESHOLD_PERCENT: '0.25',
      PRICE_FIELD: 'mid',
      DIRECTION: 'down',
      COOLDOWN_MS: '1000',
      UPHOLD_API_URL: ticker.url,
      REDIS_URL: testRedisUrl(),
      REQUEST_TIMEOUT_MS: '5000',
      LOG_LEVEL: api.config.logLevel === 'silent' ? 'error' : api.config.logLevel,
    });
    for (const [name, value] of Object.entries(imageEnv)) expect(containerEnv[name]).toBe(value);

    // No secret of the API anywhere in the container's description, and no mount (no Docker socket).
    const described = JSON.stringify(info);
    expect(described).not.toContain(key);
    expect(described).not.toContain(dbPassword);
    expect(described).not.toContain('API_KEY');
    expect(described).not.toContain('DATABASE_URL');
    expect(info.Mounts).toEqual([]);
    expect(info.HostConfig.Privileged).toBe(false);

    await request(api.url).delete(`/monitors/${monitor.id}`).set('X-API-Key', key).expect(204);
    await eventually('the worker to be removed', async () =>
      (await workerContainers(monitor.id)).length === 0 ? true : undefined,
    );
  });
});
