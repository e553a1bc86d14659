import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import request from 'supertest';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { eventually, startApi, TestApi } from './support/api';
import type { AlertBody } from './support/bodies';
import { collectPageErrors, describeWithChromium, launchChromium, TestBrowser } from './support/browser';
import { describeWithDocker, removeAllWorkers } from './support/docker';

const SCREENSHOTS = join(__dirname, '..', 'docs', 'screenshots');
const DASHBOARD_DIST = join(__dirname, '..', 'dist', 'dashboard');
/** The page's test walks a monitor through a dozen ticks on a machine others share: room beyond the 120 s default. */
const TEST_TIMEOUT = 240_000;
/** A worker container's start and first tick, on a 2-core machine shared with image builds and other suites. */
const FIRST_TICK_TIMEOUT = 90_000;
/** Outcomes in the page: the worker's container start, a tick or two, the alert's trip through Redis and Postgres. */
const UI_TIMEOUT = 45_000;

/** The text of a locator once it shows, within the deadline. */
async function textOf(locator: Locator, timeout = UI_TIMEOUT): Promise<string> {
  await locator.waitFor({ state: 'visible', timeout });
  return (await locator.textContent()) ?? '';
}

interface Rect {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The rectangles of the marker labels the page shows, as the browser laid them out. */
async function labelRects(page: Page): Promise<Rect[]> {
  return page.evaluate<
    Rect[]
  >(`[...document.querySelectorAll('[data-testid=price-chart] .marker-label')].map((el) => {
    const r = el.getBoundingClientRect();
    return { id: el.getAttribute('data-alert-id') ?? '', x: r.x, y: r.y, width: r.width, height: r.height };
  })`);
}

/**
 * At a phone's width: the marker labels shown overlap nowhere (measured from the DOM's geometry), the newest
 * alert's label is among them and inside the chart, and the alert table needs no sideways scrolling, each
 * row's pair, move and price inside the screen.
 */
async function expectLegibleAtPhoneWidth(page: Page, chart: Locator, newestAlertId: string): Promise<void> {
  // The chart lays itself out again after the viewport changed (a resize observer, then a redraw): until it
  // has, the labels still sit where the wider chart put them.
  const rects = await eventually(
    "the newest alert's label, and every label inside the chart at this width",
    async () => {
      const found = await labelRects(page);
      const box = await chart.locator('.chart-box').boundingBox();
      if (!box || !found.some((r) => r.id === newestAlertId)) return undefined;
      const inside = found.every((r) => r.x >= box.x - 0.5 && r.x + r.width <= box.x + box.width + 0.5);
      return inside ? found : undefined;
    },
    UI_TIMEOUT,
  );
  for (const a of rects) {
    expect(a.width).toBeGreaterThan(0);
    for (const b of rects) {
      if (a === b) continue;
      const apart =
        a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      if (!apart) throw new Error(`marker labels overlap: ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
    }
  }
  const overflow = await page.evaluate<number>(
    `(() => { const wrap = document.querySelector('[data-testid=alerts-table]').parentElement; return wrap.scrollWidth - wrap.clientWidth; })()`,
  );
  expect(overflow).toBeLessThanOrEqual(1);
  const rows = page.locator('[data-testid=alert-row]');
  for (let i = 0; i < (await rows.count()); i++) {
    for (const cell of ['.a-pair', '.a-move', '.a-price']) {
      const cellBox = await rows.nth(i).locator(cell).boundingBox();
      expect(cellBox).not.toBeNull();
      expect((cellBox?.x ?? 0) + (cellBox?.width ?? 0)).toBeLessThanOrEqual(390);
    }
  }
}

/**
 * An init script: the text each canvas of the page drew in its last paint (lightweight-charts starts each paint
 * with a 'copy' fill of the whole canvas), each with its horizontal extent and its middle, in CSS pixels. The
 * chart's axes are canvases: this is how a test reads what they show, where.
 */
const RECORD_CANVAS_TEXT = `(() => {
  const painted = new WeakMap();
  window.pwCanvasText = (canvas) => painted.get(canvas) ?? [];
  const proto = CanvasRenderingContext2D.prototype;
  const fillRect = proto.fillRect;
  proto.fillRect = function (...args) {
    if (this.globalCompositeOperation === 'copy') painted.set(this.canvas, []);
    return fillRect.apply(this, args);
  };
  const fillText = proto.fillText;
  proto.fillText = function (text, x, y, ...rest) {
    const width = this.measureText(text).width;
    const align = this.textAlign;
    const start = align === 'center' ? x - width / 2 : align === 'right' || align === 'end' ? x - width : x;
    const m = this.getTransform();
    const ratio = this.canvas.width / (this.canvas.clientWidth || this.canvas.width);
    const list = painted.get(this.canvas) ?? [];
    list.push({ text: String(text), left: (m.a * start + m.e) / ratio, right: (m.a * (start + width) + m.e) / ratio, y: (m.d * y + m.f) / ratio });
    painted.set(this.canvas, list);
    return fillText.call(this, text, x, y, ...rest);
  };
})()`;

interface CanvasText {
  text: string;
  left: number;
  right: number;
  y: number;
}

interface ChartTexts {
  /** The time axis's labels, and its width. */
  time: CanvasText[];
  timeWidth: number;
  /** The right price axis's labels: the scale's own, and the tags of the prices it marks. */
  price: CanvasText[];
  /** Text drawn in the pane itself (price line titles). */
  pane: CanvasText[];
}

/** What the chart's canvases show as text (RECORD_CANVAS_TEXT must be installed before the page loaded). */
async function chartTexts(chart: Locator): Promise<ChartTexts> {
  const id = await chart.getAttribute('data-monitor-id');
  return chart.page().evaluate<ChartTexts>(`(() => {
    const figure = document.querySelector('[data-testid=price-chart][data-monitor-id="${id}"]');
    const [paneRow, timeRow] = figure.querySelectorAll('.chart-box table tr');
    const canvas = (row, i) => row.children[i].querySelector('canvas');
    return {
      time: window.pwCanvasText(canvas(timeRow, 1)),
      timeWidth: canvas(timeRow, 1).clientWidth,
      price: window.pwCanvasText(canvas(paneRow, 2)),
      pane: window.pwCanvasText(canvas(paneRow, 1)),
    };
  })()`);
}

/**
 * The chart's axes can be read: every time label whole inside the time axis (the first one was cut to ":31:02"
 * at a phone's width); the price axis shows its own scale, evenly spaced, and one tag only, the last price (the
 * band's and the levels' tags covered the scale), and no title sits in the pane on a line's end. What those lines
 * are is the legend's to say.
 */
async function expectReadableAxes(chart: Locator): Promise<ChartTexts> {
  return eventually(
    'readable axes: time labels inside the chart, the price scale with the last price only',
    async () => {
      const texts = await chartTexts(chart);
      // The value the series ends at, as the axis writes it (two decimals).
      const tag = Number(await chart.getAttribute('data-last-value')).toFixed(2);
      if (texts.time.length < 1) throw new Error(`time axis: ${JSON.stringify(texts.time)}`);
      const cut = texts.time.filter((t) => t.left < -0.5 || t.right > texts.timeWidth + 0.5);
      if (cut.length)
        throw new Error(`time labels cut at the edge (width ${texts.timeWidth}): ${JSON.stringify(cut)}`);
      const lastTag = texts.price.findIndex((t) => t.text === tag);
      if (lastTag < 0)
        throw new Error(`no last price ${tag} on the price axis: ${JSON.stringify(texts.price)}`);
      const scale = texts.price.filter((_, i) => i !== lastTag).sort((a, b) => a.y - b.y);
      const steps = scale.slice(1).map((t, i) => t.y - scale[i].y);
      if (scale.length < 3 || steps.some((step) => Math.abs(step - steps[0]) > 1.5))
        throw new Error(
          `the price axis shows more than its scale and the last price: ${JSON.stringify(texts.price)}`,
        );
      if (texts.pane.length) throw new Error(`text drawn in the pane: ${JSON.stringify(texts.pane)}`);
      return texts;
    },
    UI_TIMEOUT,
  );
}

/** The legend under the chart: each price line's title and price. */
async function legend(chart: Locator): Promise<string[]> {
  return (await chart.locator('[data-testid=chart-legend] li').allTextContents()).map((t) => t.trim());
}

/** Errors the page raised, less the browser's own line for each refused request (a 401 or 404 it handled). */
const unexpected = (errors: string[]) => errors.filter((e) => !e.includes('Failed to load resource'));

describeWithChromium('dashboard in Chromium', () => {
  let browser: TestBrowser;

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error(
        `no built dashboard in ${DASHBOARD_DIST}: run \`npm run build:dashboard\` (npm test builds it)`,
      );
    }
    browser = await launchChromium();
    expect(browser.version).toMatch(/^(Headless)?Chrome\/\d+/);
  });

  afterAll(async () => {
    await browser?.close();
  });

  describeWithDocker('against the API, the fake ticker and a real worker', () => {
    let ticker: FakeUpholdServer;
    let api: TestApi;

    beforeAll(async () => {
      ticker = new FakeUpholdServer();
      const { url } = await ticker.start(0, '127.0.0.1');
      ticker.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
      api = await startApi({ env: { UPHOLD_API_URL: url } });
    });

    afterAll(async () => {
      await api?.close();
      await removeAllWorkers();
      await ticker?.stop();
    });

    it('serves the page and its assets without a key, index.html revalidated, assets cached for good', async () => {
      const index = await request(api.url).get('/').expect(200);
      expect(index.headers['content-type']).toMatch(/^text\/html/);
      expect(index.text).toContain('<div id="app">');
      expect(index.headers['cache-control']).toBe('no-cache');
      const script = /src="(\/assets\/[^"]+\.js)"/.exec(index.text)?.[1];
      expect(script).toBeDefined();
      const asset = await request(api.url)
        .get(script as string)
        .expect(200);
      expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      // Revalidation answers 304; a file the build does not hold is the API's 404.
      await request(api.url).get('/').set('If-None-Match', String(index.headers.etag)).expect(304);
      await request(api.url).get('/assets/index-missing.js').expect(404);
      // The API's own routes are untouched.
      await request(api.url).get('/health').expect(200);
      await request(api.url).get('/monitors').expect(200);
      await request(api.url).get('/docs-json').expect(200);
    });

    it(
      'starts a monitor from the form, shows its alerts in the table and on the chart as they happen, stops it',
      async () => {
        const page = await browser.context.newPage();
        const errors = collectPageErrors(page);
        await page.addInitScript(RECORD_CANVAS_TEXT);
        await page.setViewportSize({ width: 1280, height: 900 });
        await page.goto(`${api.url}/`);
        await page.getByText('No monitors yet').waitFor({ timeout: UI_TIMEOUT });
        // Marks this document: still there at the end means nothing reloaded the page.
        await page.evaluate('window.pwSameDocument = true');

        const form = page.getByRole('form', { name: 'Start a monitor' });
        // Bad input: the API's own messages, beside their fields; nothing created.
        await form.locator('input[name=pair]').fill('BTCUSD');
        await form.locator('input[name=intervalMs]').fill('999');
        await form.getByRole('button', { name: 'Start monitoring' }).click();
        expect(await textOf(form.locator('[data-field-error=pair]'))).toContain('e.g. BTC-USD');
        expect(await textOf(form.locator('[data-field-error=intervalMs]'))).toBe(
          'intervalMs must be at least 1000',
        );
        // A negative threshold is a number: the message says what is wrong with it, not "must be a number".
        await form.locator('input[name="rules[0].thresholdPercent"]').fill('-1');
        await form.getByRole('button', { name: 'Start monitoring' }).click();
        expect(await textOf(form.locator('[data-field-error="rules[0].thresholdPercent"]'))).toBe(
          'thresholdPercent must be greater than 0',
        );
        expect((await request(api.url).get('/monitors').expect(200)).body).toEqual([]);

        // A good one: lower case is fine, the API upper-cases it.
        await form.locator('input[name=pair]').fill('btc-usd');
        await form.locator('input[name=intervalMs]').fill('1000');
        await form.locator('input[name="rules[0].thresholdPercent"]').fill('0.5');
        await form.getByRole('button', { name: 'Start monitoring' }).click();
        await form.locator('[data-field-error]').first().waitFor({ state: 'detached', timeout: UI_TIMEOUT });
        const row = page.locator('[data-testid=monitor]', { hasText: 'BTC-USD' });
        await row.and(page.locator('[data-status=running]')).waitFor({ timeout: UI_TIMEOUT });
        const monitorId = (await row.getAttribute('data-monitor-id')) as string;
        const [created] = (await request(api.url).get('/monitors').expect(200)).body as {
          id: string;
          status: string;
        }[];
        expect(created).toMatchObject({ id: monitorId, status: 'running' });
        // The worker's live state: its first price read.
        expect(
          await textOf(row.locator('[data-testid=last-price]', { hasText: '63120.45' }), FIRST_TICK_TIMEOUT),
        ).toBe('63120.45');
        expect(await textOf(row.locator('[data-testid=worker-state]'))).toBe('running');

        // The chart has its ticks and the band around the reference (the worker's first price).
        const chart = page.locator(`[data-testid=price-chart][data-monitor-id="${monitorId}"]`);
        await chart.and(page.locator('[data-reference="63120.45"]')).waitFor({ timeout: UI_TIMEOUT });
        await eventually(
          'ticks on the chart',
          async () => (Number(await chart.getAttribute('data-points')) >= 1 ? true : undefined),
          UI_TIMEOUT,
        );
        // The stream is open (not the polling fallback).
        expect(await textOf(page.getByTestId('feed-mode').and(page.getByText('live')))).toContain('live');

        // A few moves inside the band (no alert), each read by the worker, so the chart has a line to show.
        const readPrice = async (ask: string) => {
          ticker.setQuote('BTC-USD', { ask, bid: ask });
          await eventually(`the worker to read ${ask}`, async () => {
            const res = await request(api.url).get(`/monitors/${monitorId}`).expect(200);
            return (res.body as { worker: { lastPrice: string | null } }).worker.lastPrice === ask
              ? true
              : undefined;
          });
        };
        for (const ask of ['63150.10', '63190.55', '63140.20', '63210.00']) await readPrice(ask);
        expect(await page.locator('[data-testid=alert-row]').count()).toBe(0);

        // +0.6 % on the ask: past the 0.5 % threshold.
        ticker.setQuote('BTC-USD', { ask: '63499.1727', bid: '63480.00' });
        const alertRow = page.locator(`[data-testid=alert-row][data-monitor-id="${monitorId}"]`).first();
        const text = await textOf(alertRow);
        expect(text).toContain('BTC-USD');
        expect(text).toContain('+0.6 %');
        expect(text).toContain('63120.45 → 63499.1727');
        const [stored] = ((await request(api.url).get('/alerts').expect(200)).body as { items: AlertBody[] })
          .items;
        expect(await alertRow.getAttribute('data-alert-id')).toBe(stored.id);
        // A marker for it on the chart, and the band moved to the firing price.
        await chart.and(page.locator(`[data-marker-ids~="${stored.id}"]`)).waitFor({ timeout: UI_TIMEOUT });
        await chart.and(page.locator('[data-reference="63499.1727"]')).waitFor({ timeout: UI_TIMEOUT });

        // A 1 % drop: a second alert at the top, a second marker.
        ticker.setQuote('BTC-USD', { ask: '62864.180973', bid: '62800.00' });
        await page.locator('[data-testid=alert-row]').nth(1).waitFor({ timeout: UI_TIMEOUT });
        const top = page.locator('[data-testid=alert-row]').first();
        expect(await textOf(top)).toContain('63499.1727 → 62864.180973');
        const downId = (await top.getAttribute('data-alert-id')) as string;
        expect(downId).not.toBe(stored.id);
        await chart.and(page.locator(`[data-marker-ids~="${downId}"]`)).waitFor({ timeout: UI_TIMEOUT });
        expect((await chart.getAttribute('data-marker-ids'))?.split(' ')).toEqual([stored.id, downId]);
        expect(await page.evaluate('window.pwSameDocument')).toBe(true);

        // Two more moves inside the new band, and the chart's line has reached them.
        for (const ask of ['62900.50', '62950.25']) await readPrice(ask);
        await chart.and(page.locator('[data-last-price="62950.25"]')).waitFor({ timeout: UI_TIMEOUT });
        // The band's lines are told in the legend, with their prices; the axes stay readable.
        await eventually(
          'the legend of the band around 62864.180973',
          async () => {
            const items = await legend(chart);
            return items.join(' | ') === '+0.5 % 63178.50 | reference 62864.18 | −0.5 % 62549.86'
              ? items
              : undefined;
          },
          UI_TIMEOUT,
        );
        await expectReadableAxes(chart);

        // Screenshots for the docs: desktop, then a phone's width.
        mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-desktop.png'), fullPage: true });
        await page.setViewportSize({ width: 390, height: 844 });
        await eventually('the page to fit a phone', async () => {
          const width = await page.evaluate<number>('document.documentElement.scrollWidth');
          return width <= 390 ? width : undefined;
        });
        // A tick drawn at the new width (each redraw fits a short history to it).
        const drawn = Number(await chart.getAttribute('data-points'));
        await eventually(
          'a tick drawn at the phone width',
          async () => (Number(await chart.getAttribute('data-points')) > drawn ? true : undefined),
          UI_TIMEOUT,
        );
        await expectLegibleAtPhoneWidth(page, chart, downId);
        const phoneAxes = await expectReadableAxes(chart);
        // The first time label whole, e.g. "11:31:02", not ":31:02".
        expect(phoneAxes.time.sort((a, b) => a.left - b.left)[0].text).toMatch(/^\d\d:\d\d(:\d\d)?$/);
        await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-phone.png'), fullPage: true });
        await page.setViewportSize({ width: 1280, height: 900 });

        // Stop: the row says stopped, and so does the API.
        await row.getByRole('button', { name: 'Stop' }).click();
        await row.and(page.locator('[data-status=stopped]')).waitFor({ timeout: UI_TIMEOUT });
        expect((await request(api.url).get(`/monitors/${monitorId}`).expect(200)).body).toMatchObject({
          status: 'stopped',
        });
        // Restart puts it back to work; stop it again.
        await row.getByRole('button', { name: 'Restart' }).click();
        await row.and(page.locator('[data-status=running]')).waitFor({ timeout: UI_TIMEOUT });
        await row.getByRole('button', { name: 'Stop' }).click();
        await row.and(page.locator('[data-status=stopped]')).waitFor({ timeout: UI_TIMEOUT });

        expect(unexpected(errors)).toEqual([]);
        await page.close();
      },
      TEST_TIMEOUT,
    );
  });

  describeWithDocker('rules', () => {
    describe('two rules, a crossing driven through the fake ticker, an edit, a phone', () => {
      let ticker: FakeUpholdServer;
      let api: TestApi;

      beforeAll(async () => {
        ticker = new FakeUpholdServer();
        const { url } = await ticker.start(0, '127.0.0.1');
        ticker.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
        api = await startApi({ env: { UPHOLD_API_URL: url } });
      });

      afterAll(async () => {
        await api?.close();
        await removeAllWorkers();
        await ticker?.stop();
      });

      it(
        'creates a monitor with a move and a cross rule, draws the level, shows the crossing, edits the level',
        async () => {
          const page = await browser.context.newPage();
          const errors = collectPageErrors(page);
          await page.addInitScript(RECORD_CANVAS_TEXT);
          await page.setViewportSize({ width: 1280, height: 900 });
          await page.goto(`${api.url}/`);
          await page.getByText('No monitors yet').waitFor({ timeout: UI_TIMEOUT });

          const form = page.getByRole('form', { name: 'Start a monitor' });
          await form.locator('input[name=pair]').fill('BTC-USD');
          await form.locator('input[name=intervalMs]').fill('1000');
          await form.locator('input[name="rules[0].thresholdPercent"]').fill('5');
          await form.getByRole('button', { name: 'Add a rule' }).click();
          await form.locator('select[name="rules[1].kind"]').selectOption('cross');
          // A bad level first: the API's message beside rule 2's level, nothing created.
          await form.locator('input[name="rules[1].level"]').fill('-5');
          await form.getByRole('button', { name: 'Start monitoring' }).click();
          expect(await textOf(form.locator('[data-field-error="rules[1].level"]'))).toContain(
            'rules[1].level',
          );
          expect((await request(api.url).get('/monitors').expect(200)).body).toEqual([]);
          await form.locator('input[name="rules[1].level"]').fill('63500');
          await form.getByRole('button', { name: 'Start monitoring' }).click();

          const row = page.locator('[data-testid=monitor]', { hasText: 'BTC-USD' });
          await row.and(page.locator('[data-status=running]')).waitFor({ timeout: UI_TIMEOUT });
          const monitorId = (await row.getAttribute('data-monitor-id')) as string;
          await row.locator('[data-testid=monitor-rule][data-kind=cross]').waitFor({ timeout: UI_TIMEOUT });
          expect(await row.locator('[data-testid=monitor-rule]').count()).toBe(2);
          const chart = page.locator(`[data-testid=price-chart][data-monitor-id="${monitorId}"]`);
          await chart.and(page.locator('[data-levels="63500"]')).waitFor({ timeout: UI_TIMEOUT });
          await row
            .locator('[data-testid=last-price]', { hasText: '63120.45' })
            .waitFor({ timeout: FIRST_TICK_TIMEOUT });

          // Move the price with the fake ticker's own control, as a demo would.
          const setPrice = async (ask: string) => {
            const res = await fetch(`${ticker.url}/__fake/prices/BTC-USD`, {
              method: 'PUT',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ ask, bid: ask }),
            });
            expect(res.status).toBe(200);
            await eventually(`the worker to read ${ask}`, async () => {
              const res2 = await request(api.url).get(`/monitors/${monitorId}`).expect(200);
              return (res2.body as { worker: { lastPrice: string | null } }).worker?.lastPrice === ask
                ? true
                : undefined;
            });
          };
          await setPrice('63600.00');
          const crossing = page
            .locator(`[data-testid=alert-row][data-kind=cross][data-monitor-id="${monitorId}"]`)
            .first();
          await crossing.waitFor({ timeout: UI_TIMEOUT });
          const crossId = (await crossing.getAttribute('data-alert-id')) as string;
          await chart.and(page.locator(`[data-marker-ids~="${crossId}"]`)).waitFor({ timeout: UI_TIMEOUT });

          // Edit the level: the API keeps the rule ids, the chart draws the new level.
          await row.getByRole('button', { name: 'Edit' }).click();
          const edit = row.getByRole('form', { name: 'Edit monitor BTC-USD' });
          // The stored choices show as what they are (the API stored the defaults: both, ask), never a blank select.
          const shown = (select: string) =>
            edit.locator(`select[name="${select}"] option:checked`).textContent();
          expect(await shown('rules[0].direction')).toBe('both (default)');
          expect(await shown('rules[0].priceField')).toBe('ask (default)');
          expect(await shown('rules[1].direction')).toBe('both (default)');
          await edit.locator('input[name="rules[1].level"]').fill('64000');
          await edit.getByRole('button', { name: 'Save changes' }).click();
          await edit.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
          const saved = (await request(api.url).get(`/monitors/${monitorId}`).expect(200)).body as {
            rules: { id: string; kind: string; level?: string }[];
          };
          expect(saved.rules.map((r) => [r.id, r.kind])).toEqual([
            ['r1', 'move'],
            ['r2', 'cross'],
          ]);
          expect(saved.rules[1].level).toBe('64000');
          await chart.and(page.locator('[data-levels="64000"]')).waitFor({ timeout: UI_TIMEOUT });

          // Dense crossings (up, down, up…) for the phone: labels must not pile up.
          for (const ask of ['63990.00', '64010.00', '63990.00', '64010.00']) await setPrice(ask);
          await eventually(
            'the dense crossings on the chart',
            async () => {
              const ids = (await chart.getAttribute('data-marker-ids'))?.split(' ').filter(Boolean) ?? [];
              return ids.length >= 4 ? ids : undefined;
            },
            UI_TIMEOUT,
          );
          const newest = (await page
            .locator('[data-testid=alert-row]')
            .first()
            .getAttribute('data-alert-id')) as string;
          await page.setViewportSize({ width: 390, height: 844 });
          await expectLegibleAtPhoneWidth(page, chart, newest);
          mkdirSync(SCREENSHOTS, { recursive: true });
          await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-rules-phone.png'), fullPage: true });

          // The 24 h range with a minute or two of the archive: candles of a readable width from the left, not
          // one filling the chart; the crossings' labels shown (the newest among them) and the axes readable.
          await page.setViewportSize({ width: 1280, height: 900 });
          await page.getByTestId('range-24h').click();
          const dayChart = chart.and(page.locator('[data-range="24h"]'));
          const candles = await eventually(
            'the 24 h candles, laid out',
            async () => {
              const count = Number(await dayChart.getAttribute('data-candles', { timeout: UI_TIMEOUT }));
              const inView = Number(await dayChart.getAttribute('data-bars-in-view'));
              return count >= 1 && inView === count ? count : undefined;
            },
            UI_TIMEOUT,
          );
          expect(candles).toBeLessThanOrEqual(3); // a couple of minutes' worth
          const spacing = Number(await dayChart.getAttribute('data-bar-spacing'));
          expect(spacing).toBeGreaterThanOrEqual(6);
          expect(spacing).toBeLessThanOrEqual(16);
          // The 5 % band of the move rule and the edited level, each line with its price.
          const lines = await legend(chart);
          expect(lines.map((line) => line.replace(/ [\d.]+$/, ''))).toEqual([
            '+5 %',
            'reference',
            '−5 %',
            'r2 ↕',
          ]);
          expect(lines[3]).toBe('r2 ↕ 64000.00');
          await eventually(
            "the newest crossing's label on the 24 h chart",
            async () =>
              (await dayChart.getAttribute('data-label-ids'))?.split(' ').includes(newest) ? true : undefined,
            UI_TIMEOUT,
          );
          await expectReadableAxes(chart);
          await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-24h.png'), fullPage: true });

          expect(unexpected(errors)).toEqual([]);
          await page.close();
        },
        TEST_TIMEOUT,
      );
    });
  });

  describe('with API_KEY set', () => {
    const KEY = 'dashboard-e2e-key';
    let api: TestApi;
    let closed = false;

    beforeAll(async () => {
      api = await startApi({ env: { API_KEY: KEY, MONITOR_CREATE_LIMIT_PER_MIN: '1' } });
    });

    afterAll(async () => {
      if (!closed) await api?.close();
    });

    it('asks for the key once, says when a key is refused, keeps it for the session and never puts it in a URL', async () => {
      const page = await browser.context.newPage();
      const errors = collectPageErrors(page);
      const urls: string[] = [];
      const keyed: string[] = [];
      page.on('request', (req) => {
        urls.push(req.url());
        if (req.headers()['x-api-key'] === KEY) keyed.push(new URL(req.url()).pathname);
      });
      await page.goto(`${api.url}/`);

      // The page itself loads without a key; the first API call's 401 brings the prompt.
      const prompt = page.getByRole('form', { name: 'API key' });
      await prompt.waitFor({ timeout: UI_TIMEOUT });
      expect(await prompt.getByTestId('key-error').count()).toBe(0);

      await prompt.locator('input[name=apiKey]').fill('not-the-key');
      await prompt.getByRole('button', { name: 'Use this key' }).click();
      expect(await textOf(prompt.getByTestId('key-error'))).toContain('The key was refused (401)');

      await prompt.locator('input[name=apiKey]').fill(KEY);
      await prompt.getByRole('button', { name: 'Use this key' }).click();
      await page.getByText('No monitors yet').waitFor({ timeout: UI_TIMEOUT });
      await prompt.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
      expect(await page.evaluate("sessionStorage.getItem('pairwatch.apiKey')")).toBe(KEY);

      // A reload keeps the key: no prompt again, the stream opens with the key in its header.
      await page.reload();
      await page.getByText('No monitors yet').waitFor({ timeout: UI_TIMEOUT });
      await page.getByTestId('feed-mode').and(page.getByText('live')).waitFor({ timeout: UI_TIMEOUT });
      expect(await prompt.count()).toBe(0);
      expect(keyed).toEqual(expect.arrayContaining(['/monitors', '/alerts', '/alerts/stream', '/channels']));
      expect(urls.filter((url) => url.includes(KEY))).toEqual([]);

      // 429: the create limit is 1 a minute; the second try is refused and the page says so.
      const form = page.getByRole('form', { name: 'Start a monitor' });
      await form.locator('input[name=pair]').fill('BTCUSD');
      await form.getByRole('button', { name: 'Start monitoring' }).click();
      await form.locator('[data-field-error=pair]').waitFor({ timeout: UI_TIMEOUT });
      await form.getByRole('button', { name: 'Start monitoring' }).click();
      expect(await textOf(page.getByTestId('banner'))).toContain('Too many requests (429)');

      // The API goes away: the page says so instead of going blank.
      closed = true;
      await api.close();
      expect(await textOf(page.getByTestId('banner').and(page.getByText('not answering')))).toContain(
        'The API is not answering',
      );
      expect(await page.locator('h1', { hasText: 'pairwatch' }).count()).toBe(1);

      expect(unexpected(errors)).toEqual([]);
      await page.close();
    });
  });
});
