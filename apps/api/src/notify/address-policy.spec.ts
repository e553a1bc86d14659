import { AddressPolicy, internalRange, urlPort } from './address-policy';

describe('internalRange', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.1.2.3', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fd00::1', 'uniqueLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'rfc6052'],
    ['2002:7f00:1::', '6to4'],
  ])('%s is internal (%s)', (address, range) => expect(internalRange(address)).toBe(range));

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', 'example.com', 'localhost'])(
    '%s is not an internal literal',
    (address) => expect(internalRange(address)).toBeUndefined(),
  );
});

describe('AddressPolicy', () => {
  const policy = new AddressPolicy(['127.0.0.1:8080', 'Receiver.Local:9000', '[::1]:7000']);

  it.each([
    ['127.0.0.1', 8080, undefined],
    ['127.0.0.1', 2375, '127.0.0.1 is a loopback address'],
    ['::ffff:127.0.0.1', 8080, undefined],
    ['::1', 7000, undefined],
    ['0:0:0:0:0:0:0:1', 7000, undefined],
    ['::1', 8080, '::1 is a loopback address'],
    ['169.254.169.254', 80, '169.254.169.254 is a linkLocal address'],
    ['8.8.8.8', 443, undefined],
  ])('%s port %d → %j', (address, port, expected) => expect(policy.refusal(address, port)).toBe(expected));

  it('lists names case-insensitively, by port', () => {
    expect(policy.isAllowed('receiver.local', 9000)).toBe(true);
    expect(policy.isAllowed('receiver.local', 9001)).toBe(false);
  });
});

describe('urlPort', () => {
  it.each([
    ['http://a/', 80],
    ['https://a/', 443],
    ['http://a:8080/', 8080],
  ])('%s → %d', (url, port) => expect(urlPort(new URL(url))).toBe(port));
});
