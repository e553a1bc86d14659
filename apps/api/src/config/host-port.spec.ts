import { normalizeHostPort } from './host-port';

describe('normalizeHostPort', () => {
  it.each([
    ['127.0.0.1:80', '127.0.0.1:80'],
    ['LOCALHOST:3000', 'localhost:3000'],
    ['[::1]:8080', '[::1]:8080'],
    [' a.b:1 ', 'a.b:1'],
  ])('%j → %j', (entry, key) => expect(normalizeHostPort(entry)).toBe(key));

  it.each(['127.0.0.1', ':80', 'a:0', 'a:65536', 'a b:80', '[zz]:80', 'http://a:80'])('refuses %j', (entry) =>
    expect(normalizeHostPort(entry)).toBeUndefined(),
  );
});
