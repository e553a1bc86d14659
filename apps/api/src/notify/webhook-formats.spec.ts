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
