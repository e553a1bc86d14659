import { simpleParser } from 'mailparser';
import { composeMime, parseMailFrom } from './mime-message';

describe('composeMime', () => {
  const from = parseMailFrom('pairwatch alerts <alerts@pairwatch.test>')!;
  const parts = {
    from,
    to: ['ops@example.com', 'desk@example.org'],
    subject: '[pairwatch] BTC-USD crossed above 100,000.00 — 100,012.50 (ask), 12:01:05 UTC',
    text: `BTC-USD crossed above 100,000.00\n\nprice: 100250.10\nmonitorId: ${'a'.repeat(8)}-1111-2222-3333-444444444444\n${'long line '.repeat(30).trim()}`,
    html: '<p><strong>BTC-USD up 1.14 % — 63,120.45 → 63,764.10</strong></p><table><tr><th>price</th><td>100250.10</td></tr></table>',
    messageId: '<0b6f3c1e-8a55-4c1e-9c53-6f0e5d1c2b3a@pairwatch>',
    headers: { 'X-Pairwatch-Delivery-Id': '0b6f3c1e-8a55-4c1e-9c53-6f0e5d1c2b3a' },
    date: new Date('2026-12-06T12:01:05Z'),
  };

  it('writes a message a mail reader parses back to the same subject, bodies, addresses and headers', async () => {
    const raw = composeMime(parts);
    expect(raw.split('\r\n').every((line) => line.length <= 998)).toBe(true);
    expect(/[^\r]\n/.test(raw)).toBe(false);
    expect([...raw].every((c) => c.charCodeAt(0) < 0x80)).toBe(true);
    const mail = await simpleParser(raw);
    expect(mail.subject).toBe(parts.subject);
    expect(mail.text?.trimEnd()).toBe(parts.text);
    expect(mail.html).toBe(parts.html);
    expect(mail.messageId).toBe(parts.messageId);
    expect(mail.date?.toISOString()).toBe('2026-12-06T12:01:05.000Z');
    expect(mail.headers.get('x-pairwatch-delivery-id')).toBe('0b6f3c1e-8a55-4c1e-9c53-6f0e5d1c2b3a');
    expect(mail.from?.value[0]).toMatchObject({ name: 'pairwatch alerts', address: 'alerts@pairwatch.test' });
    expect((Array.isArray(mail.to) ? mail.to[0] : mail.to)?.value.map((a) => a.address)).toEqual(parts.to);
  });

  it('writes senders as a mail reader reads them: quoted, encoded or bare', async () => {
    for (const [given, name, address] of [
      ['alerts@pairwatch.test', '', 'alerts@pairwatch.test'],
      ['"Ops, desk" <ops@example.com>', 'Ops, desk', 'ops@example.com'],
      ['Zürich Büro <zh@example.ch>', 'Zürich Büro', 'zh@example.ch'],
    ]) {
      const mail = await simpleParser(composeMime({ ...parts, from: parseMailFrom(given)! }));
      expect(mail.from?.value[0]).toEqual({ name, address });
    }
  });

  it('leaves a sender whose address is not plain ASCII to nodemailer', () => {
    expect(parseMailFrom('Büro <büro@example.ch>')).toBeUndefined();
    expect(parseMailFrom('nobody')).toBeUndefined();
  });
});
