// CIDR blocks and the client address: X-Forwarded-For only from a trusted proxy, rightmost
// untrusted hop wins, IPv4-mapped IPv6 is the IPv4 address.

import { describe, expect, it } from 'vitest';
import { clientAddress, NetworkList, normalizeAddress, parseNetwork, type Network } from '../../../broker/policy/networks.js';

const list = (...cidrs: string[]): NetworkList => new NetworkList(cidrs.map((c) => parseNetwork(c) as Network));

describe('parseNetwork', () => {
  it('reads IPv4 and IPv6 blocks and bare addresses', () => {
    expect(parseNetwork('10.0.0.0/8')).toMatchObject({ family: 'ipv4', address: '10.0.0.0', prefix: 8 });
    expect(parseNetwork('2001:DB8::/32')).toMatchObject({ family: 'ipv6', address: '2001:db8::', prefix: 32 });
    expect(parseNetwork('192.0.2.7')).toMatchObject({ family: 'ipv4', prefix: 32 });
    expect(parseNetwork('::ffff:10.0.0.0/104')).toMatchObject({ family: 'ipv4', address: '10.0.0.0', prefix: 8 });
  });

  it.each([
    ['10.0.0/8', /"10\.0\.0" is not an IPv4 or IPv6 address/],
    ['10.0.0.0/33', /prefix \/33 is out of range for IPV4/],
    ['2001:db8::/129', /out of range for IPV6/],
    ['10.0.0.0/x', /prefix "\/x" is not a number/],
    ['10.0.0.0/8/8', /more than one "\/"/],
  ])('refuses %j', (text, message) => {
    expect(parseNetwork(text)).toMatch(message);
  });
});

describe('NetworkList', () => {
  const nets = list('10.0.0.0/8', '2001:db8::/32');
  it.each([
    ['10.200.1.1', true],
    ['11.0.0.1', false],
    ['::ffff:10.1.1.1', true],
    ['::ffff:192.0.2.7', false],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['not an address', false],
  ])('%s inside: %s', (address, inside) => {
    expect(nets.contains(address)).toBe(inside);
  });

  it('normalises IPv4-mapped addresses', () => {
    expect(normalizeAddress('::FFFF:192.0.2.7')).toBe('192.0.2.7');
    expect(normalizeAddress('nope')).toBeNull();
  });
});

describe('clientAddress', () => {
  const proxies = list('10.0.5.0/24', '::1');

  it.each([
    ['ignores X-Forwarded-For from an untrusted peer', '192.0.2.50', '10.1.1.1', '192.0.2.50'],
    ['takes the hop a trusted proxy appended', '10.0.5.1', '198.51.100.9', '198.51.100.9'],
    ['walks from the right past trusted proxies to the first untrusted hop', '10.0.5.1', '6.6.6.6, 198.51.100.9, 10.0.5.2', '198.51.100.9'],
    ['never believes what the client wrote to the left', '10.0.5.1', '10.0.5.3, 203.0.113.4', '203.0.113.4'],
    ['stops at a malformed hop with the last good address', '10.0.5.1', 'garbage, 10.0.5.2', '10.0.5.2'],
    ['reads an IPv4-mapped peer as IPv4', '::ffff:10.0.5.1', '198.51.100.9', '198.51.100.9'],
    ['takes a hop with a port', '::1', '[2001:db8::7]:443', '2001:db8::7'],
    ['uses the peer when a trusted proxy sent no header', '10.0.5.1', undefined, '10.0.5.1'],
  ])('%s', (_name, peer, header, expected) => {
    expect(clientAddress(peer, header, proxies)).toBe(expected);
  });

  it('joins repeated headers in order', () => {
    expect(clientAddress('10.0.5.1', ['198.51.100.9', '10.0.5.7'], proxies)).toBe('198.51.100.9');
  });

  it('trusts nobody by default', () => {
    expect(clientAddress('10.0.5.1', '198.51.100.9', new NetworkList([]))).toBe('10.0.5.1');
  });
});
