import { groupDigits, humanMessage, renderBody, WebhookMessage } from './webhook-formats';

const alert: WebhookMessage = {
  type: 'alert.created',
  occurredAt: new Date('2026-01-02T12:01:05.123Z'),
  data: {
    id: '6f1f5a43-3f1e-4a3c-9d55-1b2b3c4d5e6f',
    monitorId: '0b1f5a43-3f1e-4a3c-9d55-1b2b3c4d5e6f',
    pair: 'BTC-USD',
    direction: 'up',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: '63764.10',
    changePercent: '1.0198',
    thresholdPercent: '1',
    intervalMs: 5000,
    observedAt: '2026-01-02T12:01:05.000Z',
    createdAt: '2026-01-02T12:01:05.123Z',
  },
};

describe('groupDigits', () => {
  it.each([
    ['63120.45', '63,120.45'],
    ['63764.10', '63,764.10'],
    ['1234567.000012345', '1,234,567.000012345'],
    ['999', '999'],
    ['-1000', '-1,000'],
    ['0.5', '0.5'],
    ['abc', 'abc'],
  ])('%s → %s', (value, grouped) => expect(groupDigits(value)).toBe(grouped));
});

describe('humanMessage', () => {
  it.each<[WebhookMessage, string]>([
    [alert, 'BTC-USD up 1.02 % — 63,120.45 → 63,764.10 (ask), 12:01:05 UTC'],
    [
      { ...alert, data: { ...alert.data, direction: 'down', changePercent: '-0.6', priceField: 'mid' } },
      'BTC-USD down 0.60 % — 63,120.45 → 63,764.10 (mid), 12:01:05 UTC',
    ],
    [
      {
        type: 'monitor.failed',
        occurredAt: alert.occurredAt,
        data: { pair: 'ETH-USD', reason: 'crash loop' },
      },
      'ETH-USD monitor failed: crash loop',
    ],
    [
      { type: 'monitor.recovered', occurredAt: alert.occurredAt, data: { pair: 'ETH-USD' } },
      'ETH-USD monitor recovered: running and reporting again',
    ],
    [
      { type: 'webhook.test', occurredAt: alert.occurredAt, data: {} },
      'pairwatch test event: this webhook receives deliveries',
    ],
  ])('%#', (message, text) => expect(humanMessage(message)).toBe(text));

  const ruleAlert = (data: Record<string, unknown>): WebhookMessage => ({
    ...alert,
    data: { ...alert.data, ...data },
  });
  it.each<[string, WebhookMessage, string]>([
    [
      'a move (what alerts from before rules are)',
      ruleAlert({ kind: 'move', ruleId: 'r1', details: {} }),
      'BTC-USD up 1.02 % — 63,120.45 → 63,764.10 (ask), 12:01:05 UTC',
    ],
    [
      'a cross up, the level written with the price’s decimals',
      ruleAlert({
        kind: 'cross',
        direction: 'up',
        referencePrice: '100000',
        price: '100012.50',
        changePercent: '0.0125',
        details: { level: '100000', previousPrice: '99990.00', rearmPercent: '0' },
      }),
      'BTC-USD crossed above 100,000.00 — 100,012.50 (ask), 12:01:05 UTC',
    ],
    [
      'a cross down on the bid',
      ruleAlert({
        kind: 'cross',
        direction: 'down',
        priceField: 'bid',
        referencePrice: '2500.5',
        price: '2499',
        changePercent: '-0.06',
        details: { level: '2500.5' },
      }),
      'BTC-USD crossed below 2,500.5 — 2,499 (bid), 12:01:05 UTC',
    ],
    [
      'a window',
      ruleAlert({
        kind: 'window',
        direction: 'up',
        referencePrice: '97000.00',
        price: '99958.50',
        changePercent: '3.05',
        details: { windowMs: 900_000, min: '97000.00', max: '99958.50' },
      }),
      'BTC-USD up 3.05 % within 15 min — 97,000.00 → 99,958.50 (ask), 12:01:05 UTC',
    ],
    [
      'a trailing stop from the peak',
      ruleAlert({
        kind: 'trailing',
        direction: 'down',
        referencePrice: '100000.00',
        price: '98000.00',
        changePercent: '-2',
        details: { peak: '100000.00' },
      }),
      'BTC-USD 2.00 % below its peak — 100,000.00 → 98,000.00 (ask), 12:01:05 UTC',
    ],
    [
      'a trailing rise from the trough',
      ruleAlert({
        kind: 'trailing',
        direction: 'up',
        referencePrice: '90000',
        price: '91800',
        changePercent: '2',
        details: { trough: '90000' },
      }),
      'BTC-USD 2.00 % above its trough — 90,000 → 91,800 (ask), 12:01:05 UTC',
    ],
    [
      'a spread',
      ruleAlert({
        kind: 'spread',
        direction: 'up',
        referencePrice: '100000',
        price: '100260.00',
        changePercent: '0.52',
        details: { ask: '100260.00', bid: '99740.00', spread: '520', spreadPercent: '0.52' },
      }),
      'BTC-USD spread 0.52 % — ask 100,260.00 / bid 99,740.00, 12:01:05 UTC',
    ],
  ])('says what happened per kind: %s', (_what, message, text) => {
    expect(humanMessage(message)).toBe(text);
    // Slack and Discord lead with the same sentence.
    expect((JSON.parse(renderBody('slack', message)) as { text: string }).text.split('\n')[0]).toBe(text);
    expect((JSON.parse(renderBody('discord', message)) as { content: string }).content.split('\n')[0]).toBe(
      text,
    );
  });
});

describe('renderBody', () => {
  it('standard: {type, timestamp, data}', () => {
    expect(JSON.parse(renderBody('standard', alert))).toEqual({
      type: 'alert.created',
      timestamp: '2026-01-02T12:01:05.123Z',
      data: alert.data,
    });
  });

  it('slack: text plus blocks of the shape incoming webhooks accept', () => {
    const body = JSON.parse(renderBody('slack', alert)) as {
      text: string;
      blocks: {
        type: string;
        text?: { type: string; text: string };
        fields?: { type: string; text: string }[];
      }[];
    };
    expect(body.text).toBe('BTC-USD up 1.02 % — 63,120.45 → 63,764.10 (ask), 12:01:05 UTC');
    expect(body.blocks[0]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: body.text } });
    const fields = body.blocks.flatMap((b) => b.fields ?? []);
    expect(fields).toContainEqual({ type: 'mrkdwn', text: '*price*\n63764.10' });
    for (const block of body.blocks) {
      expect(['section', 'context']).toContain(block.type);
      expect((block.fields ?? []).length).toBeLessThanOrEqual(10);
    }
    expect(body.blocks.length).toBeLessThanOrEqual(50);
  });

  it('discord: content plus one embed of the shape webhooks accept', () => {
    const body = JSON.parse(renderBody('discord', alert)) as {
      content: string;
      embeds: {
        title: string;
        timestamp: string;
        fields: { name: string; value: string; inline: boolean }[];
      }[];
    };
    expect(body.content).toBe('BTC-USD up 1.02 % — 63,120.45 → 63,764.10 (ask), 12:01:05 UTC');
    expect(body.embeds).toHaveLength(1);
    expect(body.embeds[0]).toMatchObject({ title: 'alert.created', timestamp: '2026-01-02T12:01:05.123Z' });
    expect(body.embeds[0].fields).toContainEqual({ name: 'changePercent', value: '1.0198', inline: true });
    expect(body.embeds[0].fields.length).toBeLessThanOrEqual(25);
    expect(body.content.length).toBeLessThanOrEqual(2000);
  });
});
