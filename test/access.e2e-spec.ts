import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { ConfigError } from '../apps/api/src/config/app.config';
import { describeWithDocker } from './support/docker';
import { startApi, TestApi } from './support/api';
import { SseClient } from './support/sse';
import { TEST_ENV, testDatabaseUrl, testRedisUrl } from './support/test-env';

const KEY = 'access-e2e-full-key-0123456789';
const READ_KEY = 'access-e2e-read-key-0123456789';
const MAIN = join(__dirname, '../dist/apps/api/main.js');

const boundAddress = (api: TestApi) => ((api.app.getHttpServer() as Server).address() as AddressInfo).address;

describeWithDocker('who may get in: API_READ_KEY', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi({ env: { API_KEY: KEY, API_READ_KEY: READ_KEY } });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('reads with the read key: GET calls, /metrics and the alert stream', async () => {
    await request(api.url).get('/monitors').set('X-API-Key', READ_KEY).expect(200);
    await request(api.url).get('/alerts').set('Authorization', `Bearer ${READ_KEY}`).expect(200);
    await request(api.url).get('/webhooks').set('X-API-Key', READ_KEY).expect(200);
    const metrics = await request(api.url)
      .get('/metrics')
      .set('Authorization', `Bearer ${READ_KEY}`)
      .expect(200);
    expect(metrics.text).toContain('pairwatch_');
    const stream = await SseClient.open(`${api.url}/alerts/stream`, { 'X-API-Key': READ_KEY });
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toContain('text/event-stream');
    } finally {
      stream.close();
    }
  });

  it('answers every write with the read key 403 and changes nothing', async () => {
    const post = await request(api.url)
      .post('/monitors')
      .set('X-API-Key', READ_KEY)
      .send({ pair: 'BTC-USD', intervalMs: 1000 })
      .expect(403);
    expect(JSON.stringify(post.body)).not.toContain(READ_KEY);
    expect((post.body as { message: string[] }).message.join(' ')).toContain('API_READ_KEY');
    await request(api.url)
      .post('/webhooks')
      .set('X-API-Key', READ_KEY)
      .send({ url: 'https://example.com/hook' })
      .expect(403);
    await request(api.url)
      .delete('/monitors/00000000-0000-4000-8000-000000000000')
      .set('X-API-Key', READ_KEY)
      .expect(403);
    const monitors = await request(api.url).get('/monitors').set('X-API-Key', KEY).expect(200);
    const webhooks = await request(api.url).get('/webhooks').set('X-API-Key', KEY).expect(200);
    expect(monitors.body).toEqual([]);
    expect(webhooks.body).toEqual([]);
  });

  it('still writes with the full key, and refuses no key or a wrong one with 401', async () => {
    await request(api.url)
      .post('/webhooks')
      .set('X-API-Key', KEY)
      .send({ url: 'https://example.com/hook' })
      .expect(201);
    await request(api.url).get('/monitors').expect(401);
    await request(api.url).get('/monitors').set('X-API-Key', `${READ_KEY}-wrong`).expect(401);
    await request(api.url).get('/health/live').expect(200);
  });
});

describeWithDocker('who may get in: HOST', () => {
  let api: TestApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('listens on 127.0.0.1 when HOST is not set', async () => {
    api = await startApi();
    expect(api.config.host).toBe('127.0.0.1');
    expect(boundAddress(api)).toBe('127.0.0.1');
  });

  it('refuses a non-loopback HOST without API_KEY, naming the ways out', async () => {
    const refused = startApi({ env: { HOST: '0.0.0.0' } });
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(/HOST=0\.0\.0\.0 without API_KEY.*ALLOW_NO_AUTH=true/);
  });

  it('listens on every interface with API_KEY set, or with ALLOW_NO_AUTH=true on purpose', async () => {
    api = await startApi({ env: { HOST: '0.0.0.0', API_KEY: KEY } });
    expect(boundAddress(api)).toBe('0.0.0.0');
    await request(api.url).get('/monitors').expect(401);
    await api.close();
    api = await startApi({ env: { HOST: '0.0.0.0', ALLOW_NO_AUTH: 'true' } });
    expect(boundAddress(api)).toBe('0.0.0.0');
    await request(api.url).get('/monitors').expect(200);
  });

  it('the built API (main.js) exits 1 on HOST=0.0.0.0 without API_KEY and says how to fix it', async () => {
    if (!existsSync(MAIN))
      throw new Error(`the API is not built (${MAIN} is missing): run "npm run build" first`);
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOST: '0.0.0.0',
        PORT: '0',
        DATABASE_URL: testDatabaseUrl(),
        REDIS_URL: testRedisUrl(),
        PAIRWATCH_INSTANCE: TEST_ENV.instance,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain('refusing to listen on HOST=0.0.0.0 without API_KEY');
    expect(output).toContain('ALLOW_NO_AUTH=true');
  });
});

describe('who may get in: docker-compose.yml', () => {
  it('listens on every interface inside its container and will not start without a key', () => {
    const compose = readFileSync(join(__dirname, '../docker-compose.yml'), 'utf8');
    const api = compose.slice(compose.indexOf('\n  api:'));
    expect(api).toMatch(/\n {6}HOST: 0\.0\.0\.0\n/);
    // ${VAR:?message}: compose itself refuses to run without the variable.
    expect(api).toMatch(/\n {6}API_KEY: \$\{API_KEY:\?[^}]+\}\n/);
    expect(api).toMatch(/\n {6}SECRETS_KEY: \$\{SECRETS_KEY:\?[^}]+\}\n/);
    expect(api).not.toContain('ALLOW_NO_AUTH');
  });
});
