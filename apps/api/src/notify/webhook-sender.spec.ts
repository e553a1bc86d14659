import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config/app.config';
import { WebhookSender } from './webhook-sender';

/** A local endpoint for the door's own spec: counts connections, answers with `handler`. */
async function endpoint(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  let connections = 0;
  const server: Server = createServer(handler);
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const request = (url: string) => ({ url, headers: { 'webhook-id': 'd1' }, body: '{"a":1}' });

describe('WebhookSender', () => {
  const servers: { close: () => Promise<unknown> }[] = [];
  const senders: WebhookSender[] = [];
  const sender = (allowed: string[], timeoutMs?: number) => {
    const made = new WebhookSender(loadConfig({ WEBHOOK_ALLOWED_HOSTS: allowed.join(',') }), timeoutMs);
    senders.push(made);
    return made;
  };
  afterEach(async () => {
    senders.splice(0).forEach((s) => s.onModuleDestroy());
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('posts the body with its headers to an allowed endpoint and reports the status', async () => {
    let got: { body: string; headers: IncomingMessage['headers'] } | undefined;
    const server = await endpoint((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got = { body: Buffer.concat(chunks).toString(), headers: req.headers };
        res.writeHead(202, { 'retry-after': '7' }).end('ok');
      });
    });
    servers.push(server);
    const response = await sender([`127.0.0.1:${server.port}`]).send(
      request(`http://127.0.0.1:${server.port}/x`),
    );
    expect(response).toMatchObject({ status: 202, error: null, retryAfter: '7', bytesRead: 2 });
    expect(got?.body).toBe('{"a":1}');
    expect(got?.headers).toMatchObject({ 'webhook-id': 'd1', 'content-type': 'application/json' });
  });

  it.each([
    [
      'a literal on a port not allowed',
      (port: number) => `http://127.0.0.1:${port}/`,
      /blocked: 127\.0\.0\.1 is a loopback/,
    ],
    [
      'a name resolving to loopback',
      (port: number) => `http://localhost:${port}/`,
      /blocked: localhost resolves to/,
    ],
    [
      'an IPv4-mapped literal',
      (port: number) => `http://[::ffff:127.0.0.1]:${port}/`,
      /blocked: .* loopback/,
    ],
  ])('never connects for %s', async (_name, url, error) => {
    const server = await endpoint((_req, res) => res.end());
    servers.push(server);
    const response = await sender([]).send(request(url(server.port)));
    expect(response.status).toBeNull();
    expect(response.error).toMatch(error);
    expect(server.connections()).toBe(0);
  });

  it('lets a name through when its host:port is listed', async () => {
    const server = await endpoint((_req, res) => res.end());
    servers.push(server);
    const response = await sender([`localhost:${server.port}`]).send(
      request(`http://localhost:${server.port}/`),
    );
    // localhost may resolve to ::1 first, where nothing listens: then an error, but never "blocked".
    expect(response.error ?? '').not.toMatch(/blocked/);
  });

  it('does not follow a redirect', async () => {
    const target = await endpoint((_req, res) => res.end());
    const redirecting = await endpoint((_req, res) =>
      res.writeHead(307, { location: `http://127.0.0.1:${target.port}/` }).end(),
    );
    servers.push(target, redirecting);
    const allowed = [`127.0.0.1:${redirecting.port}`, `127.0.0.1:${target.port}`];
    const response = await sender(allowed).send(request(`http://127.0.0.1:${redirecting.port}/`));
    expect(response.status).toBe(307);
    expect(target.connections()).toBe(0);
  });

  it('reads at most 64 KB of a long answer', async () => {
    const server = await endpoint((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(16 * 1024, 'x');
      let sent = 0;
      const more = () => {
        while (sent < 50 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    servers.push(server);
    const response = await sender([`127.0.0.1:${server.port}`]).send(
      request(`http://127.0.0.1:${server.port}/`),
    );
    expect(response).toMatchObject({ status: 200, bytesRead: 64 * 1024 });
    expect(response.error).toMatch(/64 KB/);
  });

  it('cuts an endpoint that hangs at the timeout', async () => {
    const server = await endpoint(() => undefined);
    servers.push(server);
    const response = await sender([`127.0.0.1:${server.port}`], 300).send(
      request(`http://127.0.0.1:${server.port}/`),
    );
    expect(response).toMatchObject({ status: null, error: 'timed out after 300 ms' });
    expect(response.durationMs).toBeGreaterThanOrEqual(290);
  });

  it.each([
    ['ftp://example.com/', 'only http and https'],
    ['not a url', 'the URL is not valid'],
  ])('refuses %s without sending', async (url, error) => {
    expect(await sender([]).send(request(url))).toMatchObject({ status: null, error });
  });
});
