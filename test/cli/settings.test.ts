import { describe, expect, it } from 'vitest';
import { normalizeBrokerUrl, resolveBrokerUrl } from '../../cli/settings.js';

describe('broker URL', () => {
  it.each([
    ['http://127.0.0.1:4780', 'http://127.0.0.1:4780'],
    ['127.0.0.1:4780', 'http://127.0.0.1:4780'],
    ['https://access.example.com/', 'https://access.example.com'],
    ['https://example.com/access/', 'https://example.com/access'],
  ])('normalizes %s to %s', (input, expected) => {
    expect(normalizeBrokerUrl(input)).toBe(expected);
  });

  it('refuses another scheme as a usage error quoting the value', () => {
    expect(() => normalizeBrokerUrl('ftp://x')).toThrow(expect.objectContaining({ code: 'usage', message: expect.stringContaining('ftp://x') }));
  });

  it('prefers --broker, then ACCESS_BROKER, then the remembered broker', () => {
    const settings = { broker: 'http://remembered:1' };
    expect(resolveBrokerUrl('http://flag:1', { ACCESS_BROKER: 'http://env:1' }, settings)).toBe('http://flag:1');
    expect(resolveBrokerUrl(undefined, { ACCESS_BROKER: 'http://env:1' }, settings)).toBe('http://env:1');
    expect(resolveBrokerUrl(undefined, {}, settings)).toBe('http://remembered:1');
  });

  it('says how to configure a broker when there is none', () => {
    expect(() => resolveBrokerUrl(undefined, {}, {})).toThrow(expect.objectContaining({ code: 'not_signed_in', message: expect.stringContaining('access login --broker URL') }));
  });
});
