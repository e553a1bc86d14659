import { pgArrayLiteral } from './sql-text';

describe('pgArrayLiteral', () => {
  it('quotes every element, so none reads as NULL or splits at a comma or a space', () => {
    expect(pgArrayLiteral([])).toBe('{}');
    expect(pgArrayLiteral(['BTC-USD', 5000, '63120.45'])).toBe('{"BTC-USD","5000","63120.45"}');
    expect(pgArrayLiteral(['NULL', 'a,b', 'a b', ''])).toBe('{"NULL","a,b","a b",""}');
  });

  it('escapes double quotes and backslashes', () => {
    expect(pgArrayLiteral(['say "hi"', 'back\\slash'])).toBe('{"say \\"hi\\"","back\\\\slash"}');
  });
});
