// The tunnel's settings in the config file: per-resource maxConnections, idleTimeout and the
// postgres/mysql connection defaults, http/grpc hostHeader, and the top-level membershipRecheckSeconds.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MEMBERSHIP_GRACE_SECONDS,
  DEFAULT_MEMBERSHIP_RECHECK_SECONDS,
} from '../../../broker/config/schema.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** A resource (lines 1-7) the cases extend. */
const resource = (kind: string): string[] => [
  'resources:', //                   1
  '  db:', //                        2
  `    kind: ${kind}`, //            3
  '    target: db.internal:5432', // 4
  '    requesters: [sg-eng]', //     5
  '    approvers: [sg-dba]', //      6
  '    maxDuration: 4h', //          7
];

function refusal(text: string): string {
  try {
    parseConfig(text, 'config.yaml', {});
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('tunnel settings', () => {
  it('defaults to 20 connections, a 30-minute idle timeout, no connection defaults and a 30 s re-check', () => {
    const config = parseConfig(file(...resource('postgres')), 'config.yaml', {});
    expect(config.membershipRecheckSeconds).toBe(DEFAULT_MEMBERSHIP_RECHECK_SECONDS);
    expect(config.resources[0]).toMatchObject({ maxConnections: DEFAULT_MAX_CONNECTIONS, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, database: null, user: null });
    expect([DEFAULT_MAX_CONNECTIONS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MEMBERSHIP_RECHECK_SECONDS]).toEqual([20, 30 * 60_000, 30]);
  });

  it('reads what is written', () => {
    const config = parseConfig(
      file('membershipRecheckSeconds: 5', ...resource('mysql'), '    maxConnections: 3', '    idleTimeout: 90s', '    database: billing', '    user: reporter'),
      'config.yaml',
      {},
    );
    expect(config.membershipRecheckSeconds).toBe(5);
    expect(config.resources[0]).toMatchObject({ maxConnections: 3, idleTimeoutMs: 90_000, database: 'billing', user: 'reporter' });
  });

  it('gives live tunnels a 2-minute membership grace during a Graph outage unless membershipGraceSeconds says otherwise', () => {
    expect(parseConfig(file(...resource('postgres')), 'config.yaml', {}).membershipGraceSeconds).toBe(DEFAULT_MEMBERSHIP_GRACE_SECONDS);
    expect(DEFAULT_MEMBERSHIP_GRACE_SECONDS).toBe(120);
    expect(parseConfig(file('membershipGraceSeconds: 0', ...resource('postgres')), 'config.yaml', {}).membershipGraceSeconds).toBe(0);
  });

  it.each([
    [
      'maxConnections of 0',
      file(...resource('postgres'), '    maxConnections: 0'),
      'config.yaml:8 resources.db.maxConnections: must be a whole number from 1 to 1000',
    ],
    ['an idleTimeout that is no duration', file(...resource('postgres'), '    idleTimeout: soon'), 'config.yaml:8 resources.db.idleTimeout: is not a duration'],
    [
      'a database on a tcp resource',
      file(...resource('tcp'), '    database: orders'),
      'config.yaml:8 resources.db.database: applies to postgres and mysql resources only, not kind tcp',
    ],
    [
      'a user on an ssh resource',
      file(...resource('ssh'), '    user: root'),
      'config.yaml:8 resources.db.user: applies to postgres and mysql resources only, not kind ssh',
    ],
    [
      'a re-check interval of 0',
      file('membershipRecheckSeconds: 0', ...resource('postgres')),
      'config.yaml:1 membershipRecheckSeconds: must be a whole number from 1 to 3600',
    ],
    [
      'a membership grace above an hour',
      file('membershipGraceSeconds: 7200', ...resource('postgres')),
      'config.yaml:1 membershipGraceSeconds: must be a whole number from 0 to 3600',
    ],
  ])('refuses %s, naming the line and key', (_claim, text, line) => {
    expect(refusal(text)).toContain(line);
  });
});

describe('http and grpc resources', () => {
  it.each(['http', 'grpc'])('reads kind %s with no hostHeader (the target host:port is sent)', (kind) => {
    const [app] = parseConfig(file(...resource(kind)), 'config.yaml', {}).resources;
    expect(app?.kind).toBe(kind);
    expect(app?.hostHeader).toBeUndefined();
  });

  it.each(['target', 'client', 'grafana.internal', 'grafana.internal:8443'])('reads hostHeader: %s', (value) => {
    expect(parseConfig(file(...resource('http'), `    hostHeader: ${value}`), 'config.yaml', {}).resources[0]?.hostHeader).toBe(value);
  });

  it('refuses a hostHeader on a postgres resource', () => {
    expect(refusal(file(...resource('postgres'), '    hostHeader: db.internal'))).toContain(
      'config.yaml:8 resources.db.hostHeader: applies to http and grpc resources only, not kind postgres — remove it',
    );
  });

  it('refuses a hostHeader that could smuggle a header into the request', () => {
    expect(refusal(file(...resource('http'), '    hostHeader: "a\\r\\nX-Access-User: root"'))).toContain(
      'config.yaml:8 resources.db.hostHeader: must be target, client, or a host name with an optional :port, e.g. grafana.internal',
    );
  });
});
