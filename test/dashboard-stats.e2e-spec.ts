import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AlertEvent } from '@pairwatch/contracts';
import { AlertsRepository } from '../apps/api/src/alerts/alerts.repository';
import { startApi, TestApi } from './support/api';
import { collectPageErrors, describeWithChromium, launchChromium, TestBrowser } from './support/browser';

const SCREENSHOTS = join(__dirname, '..', 'docs', 'screenshots');
const DASHBOARD_DIST = join(__dirname, '..', 'dist', 'dashboard');
const UI_TIMEOUT = 45_000;
const DAY_MS = 86_400_000;

function alert(pair: string, observedAtMs: number, direction: 'up' | 'down'): AlertEvent {
  return {
    id: randomUUID(),
    monitorId: randomUUID(),
    pair,
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction,
    priceField: 'ask',
    referencePrice: '100',
    price: '101',
    changePercent: '1',
    thresholdPercent: '0.5',
    intervalMs: 5000,
    observedAt: new Date(observedAtMs).toISOString(),
  };
}

describeWithChromium('dashboard: the alerts-per-day chart from GET /alerts/stats', () => {
  let browser: TestBrowser;
  let api: TestApi;
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error(`no built dashboard in ${DASHBOARD_DIST}: run \`npm run build:dashboard\``);
    }
    browser = await launchChromium();
    api = await startApi();
    // Two alerts today, three two days ago (one of another pair), one 40 days ago: outside the 30 days shown.
    await api.app
      .get(AlertsRepository)
      .insertBatch([
        alert('BTC-USD', today + 1000, 'up'),
        alert('BTC-USD', today + 2000, 'down'),
        alert('BTC-USD', today - 2 * DAY_MS + 60_000, 'up'),
        alert('BTC-USD', today - 2 * DAY_MS + 120_000, 'up'),
        alert('ETH-EUR', today - 2 * DAY_MS + 180_000, 'down'),
        alert('BTC-USD', today - 40 * DAY_MS, 'down'),
      ]);
  });

  afterAll(async () => {
    await api?.close();
    await browser?.close();
  });

  it('draws one bar per day of the last 30, the busiest tallest, stacked by kind', async () => {
    const page = await browser.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${api.url}/`);
    const chart = page.getByTestId('alert-stats');
    await chart.waitFor({ timeout: UI_TIMEOUT });
    const bars = chart.getByTestId('stats-day');
    expect(await bars.count()).toBe(30);
    const bar = (ms: number) => chart.locator(`[data-testid=stats-day][data-day="${day(ms)}"]`);
    expect(await bar(today).getAttribute('data-total')).toBe('2');
    expect(await bar(today - 2 * DAY_MS).getAttribute('data-total')).toBe('3');
    expect(await bar(today - DAY_MS).getAttribute('data-total')).toBe('0');
    expect(await bar(today - 40 * DAY_MS).count()).toBe(0);
    expect(
      await bar(today - 2 * DAY_MS)
        .locator('[data-kind=move]')
        .getAttribute('data-count'),
    ).toBe('3');
    // The day with the most is the tallest bar, a day with fewer a shorter one, an empty day the least.
    const height = async (ms: number) =>
      (await bar(ms).locator('.stats-stack').boundingBox())?.height ?? Number.NaN;
    const tallest = await height(today - 2 * DAY_MS);
    expect(tallest).toBeGreaterThan(0);
    expect(await height(today)).toBeGreaterThan(0);
    expect(await height(today)).toBeLessThan(tallest);
    expect(await height(today - DAY_MS)).toBeLessThan(await height(today));
    expect(await page.getByText('most in a day: 3').count()).toBe(1);

    mkdirSync(SCREENSHOTS, { recursive: true });
    await chart.screenshot({ path: join(SCREENSHOTS, 'dashboard-alerts-per-day.png') });
    expect(errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([]);
    await page.close();
  });

  it('counts an alert that arrives on the live feed without waiting for the minute reload', async () => {
    const page = await browser.context.newPage();
    const errors = collectPageErrors(page);
    // The page reads the stats again a minute after it opened: the outcome below is awaited until shortly before
    // then, so only the live alert can have brought it.
    const minuteReloadAt = Date.now() + 60_000;
    await page.goto(`${api.url}/`);
    const chart = page.getByTestId('alert-stats');
    const todayBar = (total: number) =>
      chart.locator(`[data-testid=stats-day][data-day="${day(today)}"][data-total="${total}"]`);
    // The stream is open (a new alert reaches the page) and the first read is shown: today has its two.
    await page.getByTestId('feed-mode').filter({ hasText: 'live' }).waitFor({ timeout: UI_TIMEOUT });
    await todayBar(2).waitFor({ timeout: UI_TIMEOUT });
    // Two new alerts today: stored, announced on the stream, and counted once the panel has read the stats again.
    await api.app
      .get(AlertsRepository)
      .insertBatch([alert('BTC-USD', today + 3000, 'up'), alert('BTC-USD', today + 4000, 'up')]);
    const beforeTheMinute = Math.max(1, minuteReloadAt - 5000 - Date.now());
    await todayBar(4).waitFor({ timeout: beforeTheMinute });
    await page.getByText('most in a day: 4').waitFor({ timeout: beforeTheMinute });
    expect(errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([]);
    await page.close();
  });
});
