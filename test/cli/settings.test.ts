import { describe, expect, it } from 'vitest';
import { normalizeBrokerUrl, resolveBrokerUrl } from '../../cli/settings.js';

describe('broker URL', () => {
  it.each([
    ['http://127.0.0.1:4780', 'http://127.0.0.1:4780'],
    ['http://127.8.9.10:4780', 'http://127.8.9.10:4780'],
    ['http://localhost:4780/', 'http://localhost:4780'],
    ['http://[::1]:4780', 'http://[::1]:4780'],
    ['https://access.example.com/', 'https://access.example.com'],
    ['https://example.com/access/', 'https://example.com/access'],
    // A bare host means https, on loopback too: plain HTTP is only ever asked for by name.
    ['access.example.com', 'https://access.example.com'],
    ['127.0.0.1:4780', 'https://127.0.0.1:4780'],
  ])('normalizes %s to %s', (input, expected) => {
    expect(normalizeBrokerUrl(input)).toBe(expected);
  });

  it.each(['http://access.example.com', 'http://10.0.0.5:4780', 'http://0.0.0.0:4780', 'http://[::]:4780', 'http://localhost.example.com', 'http://128.0.0.1'])(
    'refuses %s: plain http:// to a host that is not loopback, as a usage error that says to use https',
    (input) => {
      expect(() => normalizeBrokerUrl(input)).toThrow(
        expect.objectContaining({ code: 'usage', message: expect.stringMatching(new RegExp(`"${input.replace(/[.[\]]/g, '\\$&')}".*https://`)) }),
      );
    },
  );

  it('refuses a remembered or ACCESS_BROKER http:// URL to a host that is not loopback the same way', () => {
    expect(() => resolveBrokerUrl(undefined, { ACCESS_BROKER: 'http://access.example.com' }, {})).toThrow(expect.objectContaining({ code: 'usage' }));
    expect(() => resolveBrokerUrl(undefined, {}, { broker: 'http://access.example.com' })).toThrow(expect.objectContaining({ code: 'usage' }));
  });

  it('refuses another scheme as a usage error quoting the value', () => {
    expect(() => normalizeBrokerUrl('ftp://x')).toThrow(expect.objectContaining({ code: 'usage', message: expect.stringContaining('ftp://x') }));
  });

  it('prefers --broker, then ACCESS_BROKER, then the remembered broker', () => {
    const settings = { broker: 'https://remembered:1' };
    expect(resolveBrokerUrl('https://flag:1', { ACCESS_BROKER: 'https://env:1' }, settings)).toBe('https://flag:1');
    expect(resolveBrokerUrl(undefined, { ACCESS_BROKER: 'https://env:1' }, settings)).toBe('https://env:1');
    expect(resolveBrokerUrl(undefined, {}, settings)).toBe('https://remembered:1');
  });

  it('says how to configure a broker when there is none', () => {
    expect(() => resolveBrokerUrl(undefined, {}, {})).toThrow(
      expect.objectContaining({ code: 'not_signed_in', message: expect.stringContaining('access login --broker URL') }),
    );
  });
});
