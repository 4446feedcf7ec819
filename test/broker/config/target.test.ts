import { describe, expect, it } from 'vitest';
import { formatTarget, parseTarget } from '../../../broker/config/target.js';

describe('parseTarget', () => {
  it.each([
    ['db.internal:5432', { host: 'db.internal', port: 5432 }],
    ['10.0.0.7:22', { host: '10.0.0.7', port: 22 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['[::1]:5432', { host: '::1', port: 5432 }],
    ['[fd00::42]:65535', { host: 'fd00::42', port: 65535 }],
    ['db.internal.:5432', { host: 'db.internal.', port: 5432 }],
  ])('accepts %s', (text, target) => {
    expect(parseTarget(text)).toEqual(target);
  });

  it.each([
    ['db.internal', 'must be host:port'],
    [':5432', 'must be host:port'],
    ['db.internal:', 'port must be a number from 1 to 65535'],
    ['db.internal:0', 'port must be a number from 1 to 65535'],
    ['db.internal:65536', 'port must be a number from 1 to 65535'],
    ['db.internal:+80', 'port must be a number from 1 to 65535'],
    ['db_internal:5432', '"db_internal" is not a host name or IPv4 address'],
    ['10.0.0.256:5432', '"10.0.0.256" is not a host name or IPv4 address'],
    ['::1:5432', 'an IPv6 address must be in brackets'],
    ['[db.internal]:5432', '"db.internal" in brackets is not an IPv6 address'],
    ['http://db.internal:5432', 'must be host:port'],
  ])('refuses %s', (text, problem) => {
    const result = parseTarget(text);
    expect(result).toHaveProperty('problem');
    expect((result as { problem: string }).problem).toContain(problem);
  });
});

describe('formatTarget', () => {
  it('writes IPv6 hosts in brackets and reads back what it wrote', () => {
    for (const target of [
      { host: '::1', port: 5432 },
      { host: 'db.internal', port: 5432 },
      { host: '127.0.0.1', port: 7 },
    ]) {
      expect(parseTarget(formatTarget(target))).toEqual(target);
    }
    expect(formatTarget({ host: '::1', port: 5432 })).toBe('[::1]:5432');
  });
});
