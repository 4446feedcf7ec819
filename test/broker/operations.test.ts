// The operational flags of `serve` and `dev`: each value parsed, each bad one refused with a
// message that quotes it and says what to write.

import { describe, expect, it } from 'vitest';
import { DEFAULT_METRICS_HOST, MAX_DRAIN_TIMEOUT_MS, parseDrainTimeout, parseListenAddress, parseLogFormat } from '../../broker/operations.js';

describe('--log-format', () => {
  it.each([
    ['text', 'text'],
    ['json', 'json'],
    [' JSON ', 'json'],
  ])('reads %j as %s', (value, format) => {
    expect(parseLogFormat(value)).toBe(format);
  });

  it('refuses another format, naming the two', () => {
    expect(() => parseLogFormat('yaml')).toThrow('"yaml" is not a log format — use text or json');
  });
});

describe('--drain-timeout', () => {
  it.each([
    ['30s', 30_000],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['0', 0],
    ['0s', 0],
    ['1h', MAX_DRAIN_TIMEOUT_MS],
  ])('reads %j as %d ms', (value, ms) => {
    expect(parseDrainTimeout(value)).toBe(ms);
  });

  it.each(['soon', '-5s', '30', '1.5s', ''])('refuses %j, saying what a duration looks like', (value) => {
    expect(() => parseDrainTimeout(value)).toThrow(`"${value}" is not a drain timeout — use a duration such as 30s or 2m, or 0 to cut tunnels at once`);
  });

  it('refuses a drain longer than the most allowed', () => {
    expect(() => parseDrainTimeout('2h')).toThrow('--drain-timeout 2h is longer than the most allowed (1h)');
  });
});

describe('--metrics', () => {
  it.each([
    ['9464', { host: DEFAULT_METRICS_HOST, port: 9464 }],
    ['0', { host: DEFAULT_METRICS_HOST, port: 0 }],
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['10.0.0.5:9100', { host: '10.0.0.5', port: 9100 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
    ['metrics.internal:9464', { host: 'metrics.internal', port: 9464 }],
  ])('reads %j', (value, address) => {
    expect(parseListenAddress(value)).toEqual(address);
  });

  it.each(['', 'abc', '127.0.0.1', '127.0.0.1:70000', '::1:9464', 'host:port'])('refuses %j, with the forms it takes', (value) => {
    expect(() => parseListenAddress(value)).toThrow(`"${value}" is not a listen address — use PORT (on 127.0.0.1; 0 for any free port) or HOST:PORT`);
  });
});
