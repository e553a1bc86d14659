import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { ConfigError } from '../apps/api/src/config/app.config';
import { SecretsAtRest1765000000000 } from '../apps/api/src/database/migrations/1765000000000-secrets-at-rest';
import { ChannelsTable1765300000004 } from '../apps/api/src/database/migrations/1765300000004-channels-table';
import { useSecretBoxForMigrations } from '../apps/api/src/database/migration-secrets';
import { SecretBox } from '../apps/api/src/common/secret-box';
import type { WebhookWithSecretDto } from '../apps/api/src/channels/dto/webhook.dto';
import { spawnApi } from './support/api-process';
import { eventually, startApi, TestApi } from './support/api';
import { describeWithDocker } from './support/docker';
import { TEST_SECRETS_KEY, testDatabaseUrl } from './support/test-env';
import { signatureHeadersOf, WebhookReceiver } from './support/webhook-receiver';

const keyIdOf = (base64: string) =>
  createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex').slice(0, 8);

/** Every row of the channels table as text, as a dump would show it. */
async function dumpOfChannels(): Promise<string> {
  const client = new Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    const { rows } = await client.query<{ row: string }>(
      'SELECT row_to_json(w)::text AS row FROM channels w',
    );
    return rows.map((r) => r.row).join('\n');
  } finally {
    await client.end();
  }
}

describeWithDocker('secrets at rest', () => {
  let receiver: WebhookReceiver;
  let api: TestApi | undefined;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });
  afterAll(async () => {
    await receiver?.stop();
  });

  const register = async (target: TestApi, path: string) =>
    (
      await request(target.url)
        .post('/webhooks')
        .send({ url: receiver.url(path) })
        .expect(201)
    ).body as WebhookWithSecretDto;

  it('refuses to start without SECRETS_KEY and says how to make one', async () => {
    const refused = startApi({ env: { SECRETS_KEY: '' } });
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(/SECRETS_KEY is not set.*openssl rand -base64 32/);
    await expect(startApi({ env: { SECRETS_KEY: 'not-a-key' } })).rejects.toThrow(
      /SECRETS_KEY="\*\*\*" must be 32 bytes/,
    );
  });

  it('keeps no secret in clear in the table: created and rotated secrets are sealed, and still sign', async () => {
    api = await startApi({ env: { WEBHOOK_ALLOWED_HOSTS: receiver.hostPort } });
    const hook = await register(api, '/sealed');
    const rotated = (await request(api.url).post(`/webhooks/${hook.id}/rotate-secret`).expect(200))
      .body as WebhookWithSecretDto;
    const dump = await dumpOfChannels();
    for (const secret of [hook.secret, rotated.secret]) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice('whsec_'.length));
      expect(dump).not.toContain(Buffer.from(secret.slice('whsec_'.length), 'base64').toString('hex'));
    }
    expect(dump).toMatch(/"secret":"pw1:/);
    expect(dump).toMatch(/"previous_secret":"pw1:/);
    // Nothing but create and rotate shows a secret.
    const listed = JSON.stringify((await request(api.url).get('/webhooks').expect(200)).body);
    expect(listed).not.toContain(rotated.secret);
    await request(api.url).post(`/webhooks/${hook.id}/test`).expect(202);
    const [got] = await eventually('the test event', () =>
      receiver.at('/sealed').length ? receiver.at('/sealed') : undefined,
    );
    expect(new Webhook(rotated.secret).verify(got.body, signatureHeadersOf(got))).toMatchObject({
      type: 'webhook.test',
    });
    expect(new Webhook(hook.secret).verify(got.body, signatureHeadersOf(got))).toMatchObject({
      type: 'webhook.test',
    });
  });

  it('the migration seals rows written in plain text before it', async () => {
    api = await startApi();
    const plain = `whsec_${randomBytes(32).toString('base64')}`;
    // The row and the migration at that migration's schema, where the table was still named webhooks: in one
    // transaction, so the running API never finds the channels table gone.
    const rename = new ChannelsTable1765300000004();
    const runner = api.db.createQueryRunner();
    let id: string;
    try {
      await runner.startTransaction();
      await rename.down(runner);
      [{ id }] = (await runner.query(
        `INSERT INTO webhooks (url, events, pairs, format, secret, previous_secret)
         VALUES ('https://example.com/old', '{alert.created}', '{}', 'standard', $1, $1) RETURNING id`,
        [plain],
      )) as { id: string }[];
      useSecretBoxForMigrations(new SecretBox(Buffer.from(TEST_SECRETS_KEY, 'base64')));
      await new SecretsAtRest1765000000000().up(runner);
      await rename.up(runner);
      await runner.commitTransaction();
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
    const [row] = await api.db.query<{ secret: string; previous_secret: string }[]>(
      'SELECT secret, previous_secret FROM channels WHERE id = $1',
      [id],
    );
    expect(row.secret.startsWith(`pw1:${keyIdOf(TEST_SECRETS_KEY)}:`)).toBe(true);
    expect(await dumpOfChannels()).not.toContain(plain);
    expect(new SecretBox(Buffer.from(TEST_SECRETS_KEY, 'base64')).open(row.previous_secret)).toBe(plain);
  });

  it('rotates SECRETS_KEY: the previous key still opens, and each row is sealed again under the new one when used', async () => {
    api = await startApi({ env: { WEBHOOK_ALLOWED_HOSTS: receiver.hostPort } });
    const hook = await register(api, '/rotation');
    // Closed without the reset api.close() does: the next API finds the row.
    await api.app.close();
    const newKey = randomBytes(32).toString('base64');
    api = await startApi({
      keepState: true,
      env: {
        WEBHOOK_ALLOWED_HOSTS: receiver.hostPort,
        SECRETS_KEY: newKey,
        SECRETS_KEY_PREVIOUS: TEST_SECRETS_KEY,
      },
    });
    await request(api.url).post(`/webhooks/${hook.id}/test`).expect(202);
    const [got] = await eventually('the test event signed with the stored secret', () =>
      receiver.at('/rotation').length ? receiver.at('/rotation') : undefined,
    );
    expect(new Webhook(hook.secret).verify(got.body, signatureHeadersOf(got))).toMatchObject({
      type: 'webhook.test',
    });
    const [row] = await api.db.query<{ secret: string }[]>('SELECT secret FROM channels WHERE id = $1', [
      hook.id,
    ]);
    expect(row.secret.startsWith(`pw1:${keyIdOf(newKey)}:`)).toBe(true);
    await api.close();
    // The old key can go now: the row opens under the new one alone.
    api = await startApi({
      keepState: true,
      env: { WEBHOOK_ALLOWED_HOSTS: receiver.hostPort, SECRETS_KEY: newKey },
    });
    await request(api.url).post(`/webhooks/${hook.id}/test`).expect(202);
    await eventually('the second test event', () => (receiver.at('/rotation').length > 1 ? true : undefined));
    await api.close();
    api = undefined;
    // keepState left the rows: clear them for the next suite.
    api = await startApi();
  });

  it('never writes a secret to the log: the whole output of an API process at debug level', async () => {
    const proc = await spawnApi({ LOG_LEVEL: 'debug', WEBHOOK_ALLOWED_HOSTS: receiver.hostPort });
    try {
      const hook = (
        await request(proc.url)
          .post('/webhooks')
          .send({ url: receiver.url('/logged') })
          .expect(201)
      ).body as WebhookWithSecretDto;
      const rotated = (await request(proc.url).post(`/webhooks/${hook.id}/rotate-secret`).expect(200))
        .body as WebhookWithSecretDto;
      receiver.answer = () => ({ status: 500 });
      await request(proc.url).post(`/webhooks/${hook.id}/test`).expect(202);
      await eventually('a failed attempt', () => (receiver.at('/logged').length ? true : undefined));
      receiver.answer = () => ({ status: 200 });
      await request(proc.url).delete(`/webhooks/${hook.id}`).expect(204);
      await proc.kill('SIGTERM');
      const output = proc.output();
      expect(output.length).toBeGreaterThan(0);
      for (const secret of [hook.secret, rotated.secret, TEST_SECRETS_KEY]) {
        expect(output).not.toContain(secret);
        expect(output).not.toContain(secret.replace(/^whsec_/, ''));
      }
    } finally {
      await proc.kill('SIGKILL');
    }
  });
});
