import { RelayAddress } from '../config/relay-address';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RELAY_INTERVAL_HEADER } from '@pairwatch/contracts';
import { loadConfig } from '../config/app.config';
import { UpholdClient, UpholdUnavailableError } from './uphold.client';

/** A local HTTP server standing for the relay (or Uphold): answers what `handler` says, logs the paths. */
async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number; paths: string[]; maxAges: (string | undefined)[] }> {
  const paths: string[] = [];
  const maxAges: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    maxAges.push(req.headers[RELAY_INTERVAL_HEADER] as string | undefined);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, paths, maxAges };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

describe(UpholdClient.name, () => {
  let servers: Server[] = [];

  afterEach(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    servers = [];
  });

  async function relayAt(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    const up = await listen(handler);
    servers.push(up.server);
    const config = loadConfig({
      WORKER_NETWORK: 'host',
      RELAY_PORT: String(up.port),
      // Never asked while the relay is on.
      UPHOLD_API_URL: 'http://127.0.0.1:9',
    });
    return {
      client: new UpholdClient(config, new RelayAddress(config)),
      paths: up.paths,
      port: up.port,
      maxAges: up.maxAges,
    };
  }

  it.each([
    [200, true],
    [404, false],
  ])('with the relay on, checks a pair at the relay: %i means %s', async (status, expected) => {
    const { client, paths, port, maxAges } = await relayAt((_req, res) => json(res, status, {}));
    expect(client.baseUrl).toBe(`http://127.0.0.1:${port}`);
    await expect(client.pairExists('BTC-USD')).resolves.toBe(expected);
    expect(paths).toEqual(['/v0/ticker/BTC-USD']);
    // Existence, not a fresh price: a list up to a minute old will do, so no upstream request is waited on.
    expect(maxAges).toEqual(['60000']);
  });

  it('with the relay off, checks a pair at UPHOLD_API_URL', async () => {
    const up = await listen((_req, res) => json(res, 200, {}));
    servers.push(up.server);
    const config = loadConfig({ UPHOLD_RELAY: 'off', UPHOLD_API_URL: `http://127.0.0.1:${up.port}/` });
    const client = new UpholdClient(config, new RelayAddress(config));
    await expect(client.pairExists('ETH-EUR')).resolves.toBe(true);
    expect(up.paths).toEqual(['/v0/ticker/ETH-EUR']);
    expect(up.maxAges).toEqual([undefined]); // Uphold is not told about relay headers
    await expect(client.pairEndpointOnly()).resolves.toEqual([]);
    expect(up.paths).toHaveLength(1); // no /stats asked of Uphold
  });

  it('answers UpholdUnavailableError naming the relay when it does not listen (yet)', async () => {
    const { client, port } = await relayAt((_req, res) => json(res, 200, {}));
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const error = await client.pairExists('BTC-USD').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpholdUnavailableError);
    expect((error as Error).message).toMatch(
      /could not reach the relay to the Uphold ticker to check BTC-USD/,
    );
    await expect(client.relayHealthy()).rejects.toThrow(
      `the relay at http://127.0.0.1:${port} does not answer`,
    );
  });

  it.each([
    [429, /rate limiting/],
    [502, /answered 502/],
  ])('answers UpholdUnavailableError on %i', async (status, message) => {
    const { client } = await relayAt((_req, res) => json(res, status, {}));
    await expect(client.pairExists('BTC-USD')).rejects.toThrow(message);
  });

  it.each<[string, unknown, string[]]>([
    ['its pairs', { pairEndpointOnly: ['ABC-XYZ', 'FOO-BAR'] }, ['ABC-XYZ', 'FOO-BAR']],
    ['only what are pairs', { pairEndpointOnly: ['ABC-XYZ', 'nope', 7, null] }, ['ABC-XYZ']],
    ['nothing when the field is not a list', { pairEndpointOnly: 'ABC-XYZ' }, []],
    ['nothing when the field is missing', {}, []],
  ])("pairEndpointOnly reads the relay's /stats: %s", async (_case, stats, expected) => {
    const { client, paths } = await relayAt((_req, res) => json(res, 200, stats));
    await expect(client.pairEndpointOnly()).resolves.toEqual(expected);
    expect(paths).toEqual(['/stats']);
  });

  it('pairEndpointOnly is empty when the relay answers an error or garbage', async () => {
    const { client } = await relayAt((req, res) =>
      req.url === '/stats' ? res.writeHead(200).end('{not json') : json(res, 500, {}),
    );
    await expect(client.pairEndpointOnly()).resolves.toEqual([]);
  });

  it("relayHealthy passes on the relay's /healthz and throws with its status otherwise", async () => {
    let status = 200;
    const { client, paths } = await relayAt((_req, res) => json(res, status, {}));
    await expect(client.relayHealthy()).resolves.toBeUndefined();
    status = 503;
    await expect(client.relayHealthy()).rejects.toThrow(/answered 503/);
    expect(paths).toEqual(['/healthz', '/healthz']);
  });
});
