import { BadRequestException } from '@nestjs/common';
import { decodeCursor, encodeCursor } from './alert-cursor';

const ID = '0b6f2a4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b';
const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function refusalOf(text: string): BadRequestException {
  try {
    decodeCursor(text);
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    return error as BadRequestException;
  }
  throw new Error(`decodeCursor accepted ${text}`);
}

describe('alert cursor', () => {
  it('round-trips a position', () => {
    const observedAt = new Date('2025-03-04T05:06:07.089Z');
    const text = encodeCursor({ observedAt, id: ID });
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    const decoded = decodeCursor(text);
    expect(decoded.id).toBe(ID);
    expect(decoded.observedAt).toBeInstanceOf(Date);
    expect(decoded.observedAt.getTime()).toBe(observedAt.getTime());
  });

  it('round-trips the extremes of the date range it may meet', () => {
    for (const iso of [
      '1970-01-01T00:00:00.000Z',
      '2099-12-31T23:59:59.999Z',
      '-004712-01-01T00:00:00.000Z',
      '+275760-09-13T00:00:00.000Z',
    ]) {
      expect(decodeCursor(encodeCursor({ observedAt: new Date(iso), id: ID })).observedAt.toISOString()).toBe(
        iso,
      );
    }
  });

  it('is opaque: no JSON or date text shows in it', () => {
    const text = encodeCursor({ observedAt: new Date('2025-03-04T05:06:07.089Z'), id: ID });
    expect(text).not.toContain('{');
    expect(text).not.toContain(ID);
  });

  const valid = { v: 1, t: '2025-03-04T05:06:07.089Z', id: ID };

  it('accepts a hand-made cursor of the right shape (the format is what is checked, not who made it)', () => {
    expect(decodeCursor(b64(valid)).id).toBe(ID);
  });

  it.each<[string, string]>([
    ['empty text', ''],
    ['random text', 'hello world'],
    ['random base64url that is not JSON', b64('not json at all')],
    ['standard base64 with padding', Buffer.from(JSON.stringify(valid)).toString('base64')],
    ['base64 of a JSON number', b64(42)],
    ['base64 of null', b64(null)],
    ['base64 of an array', b64([1, valid.t, ID])],
    ['base64 of other JSON', b64({ hello: 'world' })],
    ['a wrong version', b64({ ...valid, v: 2 })],
    ['a version as a string', b64({ ...valid, v: '1' })],
    ['no version', b64({ t: valid.t, id: ID })],
    ['a bad uuid', b64({ ...valid, id: 'not-a-uuid' })],
    ['an upper-case uuid', b64({ ...valid, id: ID.toUpperCase() })],
    ['a uuid with SQL after it', b64({ ...valid, id: `${ID}' OR 1=1 --` })],
    ['an id that is a number', b64({ ...valid, id: 1 })],
    ['a bad date', b64({ ...valid, t: 'yesterday' })],
    ['an impossible date', b64({ ...valid, t: '2025-02-30T00:00:00.000Z' })],
    ['a date as a number', b64({ ...valid, t: Date.parse(valid.t) })],
    ['a non-canonical date without milliseconds', b64({ ...valid, t: '2025-03-04T05:06:07Z' })],
    ['a non-canonical date with an offset', b64({ ...valid, t: '2025-03-04T06:06:07.089+01:00' })],
    ['a date-only value', b64({ ...valid, t: '2025-03-04' })],
    ['a date before Postgres can store one', b64({ ...valid, t: '-271821-04-20T00:00:00.000Z' })],
    ['a date just before 4713 BC', b64({ ...valid, t: '-004713-12-31T23:59:59.999Z' })],
    ['more than 200 characters', 'A'.repeat(201)],
    ['a valid cursor padded past 200 characters', (b64(valid) + 'A'.repeat(200)).slice(0, 201)],
  ])('refuses %s with a 400 naming cursor', (_label, text) => {
    const error = refusalOf(text);
    expect(error.getStatus()).toBe(400);
    const body = error.getResponse() as {
      message: string[];
      errors: { field: string; messages: string[] }[];
    };
    expect(body.errors.map((e) => e.field)).toEqual(['cursor']);
    expect(body.message.join(' ')).toContain('cursor');
  });

  it('refuses a cursor it made once one character is changed', () => {
    const text = encodeCursor({ observedAt: new Date('2025-03-04T05:06:07.089Z'), id: ID });
    // Flip a character in the middle, where it changes the decoded JSON.
    const i = Math.floor(text.length / 2);
    const tampered = text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1);
    expect(() => decodeCursor(tampered)).toThrow(BadRequestException);
  });
});
