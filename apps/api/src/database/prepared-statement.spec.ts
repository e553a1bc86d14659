import { prepared } from './prepared-statement';

describe('prepared', () => {
  it('names a text the same way every time, and different texts differently', () => {
    const a = prepared('SELECT 1');
    expect(a).toEqual({ name: prepared('SELECT 1').name, text: 'SELECT 1' });
    expect(a.name).toMatch(/^pw_[0-9a-f]{16}$/);
    expect(prepared('SELECT 2').name).not.toBe(a.name);
  });
});
