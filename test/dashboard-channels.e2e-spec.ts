import { existsSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { AlertsRepository } from '../apps/api/src/alerts/alerts.repository';
import type { ChannelDto } from '../apps/api/src/channels/dto/channel.dto';
import { alertEvent } from './support/alert-events';
import { eventually, startApi, TestApi } from './support/api';
import { collectPageErrors, describeWithChromium, launchChromium, TestBrowser } from './support/browser';
import { WebhookReceiver } from './support/webhook-receiver';

const DASHBOARD_DIST = join(__dirname, '..', 'dist', 'dashboard');
const UI_TIMEOUT = 45_000;

/** A failed fetch (the 400 the form shows) is logged by Chromium; anything else is an error of the page. */
const pageFaults = (errors: string[]) => errors.filter((e) => !/Failed to load resource/.test(e));

describeWithChromium('dashboard: the channels section against /channels', () => {
  let browser: TestBrowser;
  let api: TestApi;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error(`no built dashboard in ${DASHBOARD_DIST}: run \`npm run build:dashboard\``);
    }
    receiver = await new WebhookReceiver().start();
    browser = await launchChromium();
    api = await startApi({ env: { CHANNEL_ALLOWED_HOSTS: receiver.hostPort } });
  });

  afterAll(async () => {
    await api?.close();
    await browser?.close();
    await receiver?.stop();
  });

  const channels = async () => (await request(api.url).get('/channels').expect(200)).body as ChannelDto[];

  it('the form: a field error beside its field and nothing made; then a channel with quiet hours in a zone', async () => {
    const page = await browser.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${api.url}/`);
    const section = page.getByTestId('channels');
    await section.waitFor({ timeout: UI_TIMEOUT });
    const form = page.getByRole('form', { name: 'Add a channel' });
    await form.locator('select[name="type"]').selectOption('telegram');
    await form.locator('input[name="config.botToken"]').fill('not-a-token');
    await form.locator('input[name="config.chatId"]').fill('-1001234567890');
    await form.getByRole('button', { name: 'Add channel' }).click();
    await expectText(form.locator('[data-field-error="config.botToken"]'), /bot token/);
    expect(await channels()).toHaveLength(0);

    await form.locator('select[name="type"]').selectOption('ntfy');
    await form.locator('input[name="name"]').fill('phone');
    await form.locator('input[name="config.url"]').fill(receiver.url('/my-topic'));
    await form.getByRole('button', { name: 'Add quiet hours' }).click();
    await form.locator('input[name="quietHours.timeZone"]').fill('Europe/Lisbon');
    await form.locator('input[name="quietHours.windows[0].from"]').fill('22:30');
    await form.locator('input[name="quietHours.windows[0].to"]').fill('06:45');
    await form.locator('input[name="quietHours.windows[0].days"][value="sat"]').uncheck();
    await form.locator('input[name="quietHours.windows[0].days"][value="sun"]').uncheck();
    await form.getByRole('button', { name: 'Add channel' }).click();
    const row = section.getByTestId('channel').filter({ hasText: 'phone' });
    await row.waitFor({ timeout: UI_TIMEOUT });
    await expectText(row, /quiet weekdays 22:30–06:45 \(Europe\/Lisbon\)/);
    const [made] = await channels();
    expect(made).toMatchObject({
      type: 'ntfy',
      name: 'phone',
      quietHours: {
        timeZone: 'Europe/Lisbon',
        windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '22:30', to: '06:45' }],
      },
    });
    expect(pageFaults(errors)).toEqual([]);
    await request(api.url).delete(`/channels/${made.id}`).expect(204);
    await page.close();
  });

  it('wrong input: each message once, beside its field, about the value typed; no event at all', async () => {
    const page = await browser.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${api.url}/`);
    const form = page.getByRole('form', { name: 'Add a channel' });
    await form.waitFor({ timeout: UI_TIMEOUT });
    await form.locator('select[name="type"]').selectOption('email');
    await form.locator('input[name="config.to"]').fill('ops@example.com, b@');
    await form.locator('input[name="digest.windowMs"]').fill('-5');
    await form.locator('input[name="maxPerHour"]').fill('-3');
    await form.locator('input[name="events"][value="alert.created"]').uncheck();
    await form.getByRole('button', { name: 'Add channel' }).click();
    await expectText(form.locator('[data-field-error="events"]'), /^events must name at least one event$/);
    // A negative number is judged as one ("at least"), not refused as "must be an integer".
    await expectText(form.locator('[data-field-error="digest"]'), /at least 1000/);
    await expectText(form.locator('[data-field-error="maxPerHour"]'), /^maxPerHour must be at least 1$/);
    // Nothing above the button repeats them, and what was typed is still there.
    expect(await form.getByTestId('channel-form-error').count()).toBe(0);
    expect(await form.locator('input[name="maxPerHour"]').inputValue()).toBe('-3');

    // The API reads the addresses once the rest is right.
    await form.locator('input[name="events"][value="alert.created"]').check();
    await form.locator('input[name="digest.windowMs"]').fill('');
    await form.locator('input[name="maxPerHour"]').fill('');
    await form.getByRole('button', { name: 'Add channel' }).click();
    await expectText(
      form.locator('[data-field-error="config.to"]'),
      /config\.to\[1\] must be an email address/,
    );
    // The address's message shows beside To only, not a second time under the config.
    expect(await form.locator('[data-field-error="config"]').count()).toBe(0);
    expect(await form.getByText(/config\.to\[1\]/).count()).toBe(1);
    expect(await form.getByTestId('channel-form-error').count()).toBe(0);
    expect(await form.locator('input[name="config.to"]').inputValue()).toBe('ops@example.com, b@');
    expect(await channels()).toHaveLength(0);
    expect(pageFaults(errors)).toEqual([]);
    await page.close();
  });

  it('the alert filters: a bad pair is said once, beside the pair; since after until above the table', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${api.url}/`);
    const filters = page.getByRole('form', { name: 'Alert filters' });
    const section = page.locator('section[aria-labelledby="alerts-title"]');
    await page.getByText('No alerts yet.').waitFor({ timeout: UI_TIMEOUT });
    await filters.locator('input[name=pair]').fill('bad!');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expectText(filters.locator('[data-field-error=pair]'), /e\.g\. BTC-USD/);
    expect(await section.getByText(/currency codes/).count()).toBe(1);
    await filters.locator('input[name=pair]').fill('');
    await filters.locator('input[name=since]').fill('2026-12-08T10:00:00');
    await filters.locator('input[name=until]').fill('2026-12-01T10:00:00');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expectText(section.locator('p.error'), /since must not be after until/);
    expect(await filters.locator('[data-field-error=pair]').count()).toBe(0);
    await page.close();
  });

  it('opened while the API is down: once it answers, the channels and the alert history are read again', async () => {
    const page = await browser.context.newPage();
    let down = true;
    // The page itself loads; every API call fails as a refused connection would, until `down` is lifted.
    await page.route(
      (url) => /^\/(monitors|alerts|channels|webhooks|pairs)\b/.test(url.pathname),
      (route) => (down ? route.abort('connectionrefused') : route.continue()),
    );
    await page.goto(`${api.url}/`);
    await expectText(page.getByTestId('banner'), /The API is not answering/);
    await expectText(page.getByTestId('channels'), /cannot reach the pairwatch API/);
    await expectText(
      page.locator('section[aria-labelledby="alerts-title"]'),
      /cannot reach the pairwatch API/,
    );
    await expectText(
      page.locator('section[aria-labelledby="stats-title"]'),
      /cannot reach the pairwatch API/,
    );
    down = false;
    await page.getByTestId('banner').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    await page.getByRole('form', { name: 'Add a channel' }).waitFor({ timeout: UI_TIMEOUT });
    await page.getByText('No channels yet.').waitFor({ timeout: UI_TIMEOUT });
    await page.getByText('No alerts yet.').waitFor({ timeout: UI_TIMEOUT });
    await eventually(
      'no "cannot reach" left on the page (the per-day chart too, before its minute reload)',
      async () => ((await page.getByText(/cannot reach/).count()) === 0 ? true : undefined),
      UI_TIMEOUT,
    );
    await page.close();
  });

  it('the delivery log keeps the older pages it loaded when it refreshes, and shows new deliveries on top', async () => {
    const channel = (
      await request(api.url)
        .post('/channels')
        .send({ type: 'webhook', name: 'paged hook', config: { url: receiver.url('/paged') } })
        .expect(201)
    ).body as ChannelDto;
    const test = async () => request(api.url).post(`/channels/${channel.id}/test`).expect(202);
    for (let i = 0; i < 25; i++) await test();
    const page = await browser.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${api.url}/`);
    const row = page.getByTestId('channel').filter({ hasText: 'paged hook' });
    await row.waitFor({ timeout: UI_TIMEOUT });
    await row.getByRole('button', { name: 'Deliveries' }).click();
    const deliveries = row.locator('[data-testid="delivery"]');
    const shown = (n: number) =>
      eventually(
        `${n} deliveries shown`,
        async () => ((await deliveries.count()) === n ? true : undefined),
        UI_TIMEOUT,
      );
    await shown(20);
    await row.getByRole('button', { name: 'Older deliveries' }).click();
    await shown(25);
    // A new delivery reaches the log only through its refresh: the older page must still be there after it.
    await test();
    await shown(26);
    expect(pageFaults(errors)).toEqual([]);
    await page.close();
  });

  it('snooze, disable, and the log where a digest shows the alerts it carries', async () => {
    const channel = (
      await request(api.url)
        .post('/channels')
        .send({
          type: 'webhook',
          name: 'digest hook',
          config: { url: receiver.url('/digest') },
          digest: { windowMs: 1000 },
        })
        .expect(201)
    ).body as ChannelDto;
    await api.app
      .get(AlertsRepository)
      .insertBatch([alertEvent('BTC-USD'), alertEvent('ETH-USD'), alertEvent('BTC-USD')]);
    await eventually('the digest delivered', () =>
      receiver.requests.find(
        (r) => r.path === '/digest' && (JSON.parse(r.body) as { type: string }).type === 'digest',
      ),
    );
    const page = await browser.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${api.url}/`);
    const row = page.getByTestId('channel').filter({ hasText: 'digest hook' });
    await row.waitFor({ timeout: UI_TIMEOUT });
    await row.getByRole('button', { name: 'Deliveries' }).click();
    const digest = row.locator('[data-testid="delivery"][data-carries="3"]');
    await digest.waitFor({ timeout: UI_TIMEOUT });
    await expectText(digest, /digest of 3 alerts/);
    expect(await row.locator('[data-testid="delivery"][data-status="digested"]').count()).toBe(3);

    await row.getByRole('button', { name: '1 h' }).click();
    await row.getByTestId('channel-snoozed').waitFor({ timeout: UI_TIMEOUT });
    const snoozed = (await channels()).find((c) => c.id === channel.id);
    expect(Date.parse(snoozed?.snoozedUntil ?? '') - Date.now()).toBeGreaterThan(3_500_000);
    await row.getByRole('button', { name: 'Unsnooze' }).click();
    await row.getByTestId('channel-snoozed').waitFor({ state: 'detached', timeout: UI_TIMEOUT });

    await row.getByRole('button', { name: 'Disable' }).click();
    await expectText(row.getByTestId('channel-status'), /disabled/);
    expect((await channels()).find((c) => c.id === channel.id)?.enabled).toBe(false);
    expect(pageFaults(errors)).toEqual([]);
    await page.close();
  });
});

async function expectText(locator: import('playwright-core').Locator, pattern: RegExp): Promise<void> {
  await eventually(
    `text ${pattern}`,
    async () => (pattern.test((await locator.textContent({ timeout: UI_TIMEOUT })) ?? '') ? true : undefined),
    UI_TIMEOUT,
  );
}
