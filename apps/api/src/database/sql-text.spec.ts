import { binaryTextArray } from './sql-text';

/** Reads Postgres' binary array format back (what array_recv checks), for the tests. */
function readBinaryArray(buffer: Buffer): { elementType: number; lowerBound: number; values: string[] } {
  expect(buffer.readInt32BE(0)).toBe(1);
  expect(buffer.readInt32BE(4)).toBe(0);
  const count = buffer.readInt32BE(12);
  const values: string[] = [];
  let offset = 20;
  for (let i = 0; i < count; i++) {
    const length = buffer.readInt32BE(offset);
    values.push(buffer.toString('utf8', offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  expect(offset).toBe(buffer.length);
  return { elementType: buffer.readInt32BE(8), lowerBound: buffer.readInt32BE(16), values };
}

describe('binaryTextArray', () => {
  it('writes one dimension of text elements, first index 1, each as its length and UTF-8 bytes', () => {
    expect(readBinaryArray(binaryTextArray(['BTC-USD', 5000, '63120.45']))).toEqual({
      elementType: 25,
      lowerBound: 1,
      values: ['BTC-USD', '5000', '63120.45'],
    });
  });

  it('needs no quoting or escaping: every value is sent as it is, multi-byte characters included', () => {
    const values = ['NULL', 'a,b', ' spaced ', 'say "hi"', 'back\\slash', '{}', '', 'é€', '😀'];
    expect(readBinaryArray(binaryTextArray(values)).values).toEqual(values);
  });

  it('writes the same bytes whether the texts are short ASCII (one write) or not (element by element)', () => {
    const ascii = [
      '3f2c1d8e-0b7a-4c55-9a61-2f4e8d7c6b5a',
      '2026-12-07T02:59:59.123Z',
      '0.000001',
      'x'.repeat(127),
    ];
    const expected = (texts: string[]) =>
      Buffer.concat([
        Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, texts.length, 0, 0, 0, 1]),
        ...texts.flatMap((t) => {
          const bytes = Buffer.from(t, 'utf8');
          const length = Buffer.alloc(4);
          length.writeInt32BE(bytes.length);
          return [length, bytes];
        }),
      ]);
    expect(binaryTextArray(ascii)).toEqual(expected(ascii));
    // A text of 128 characters or more, a multi-byte character after ASCII ones, a lone surrogate.
    for (const odd of ['y'.repeat(128), 'é', '\u00ff', '\ud800']) {
      const texts = [...ascii, odd, 'z'];
      expect(binaryTextArray(texts)).toEqual(expected(texts));
    }
  });

  it('writes an empty array as zero elements', () => {
    expect(readBinaryArray(binaryTextArray([]))).toEqual({ elementType: 25, lowerBound: 1, values: [] });
  });
});
