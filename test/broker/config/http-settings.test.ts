// http and grpc resources in the config file: the kinds, and `hostHeader` (theirs only).

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** A resource (lines 1-7) the cases extend. */
const resource = (kind: string): string[] => [
  'resources:', //                   1
  '  app:', //                       2
  `    kind: ${kind}`, //            3
  '    target: app.internal:3000', // 4
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

describe('http and grpc resources', () => {
  it.each(['http', 'grpc'])('reads kind %s with no hostHeader (the target host:port is sent)', (kind) => {
    const [app] = parseConfig(file(...resource(kind)), 'config.yaml', {}).resources;
    expect(app?.kind).toBe(kind);
    expect(app?.hostHeader).toBeUndefined();
  });

  it.each(['target', 'client', 'grafana.internal', 'grafana.internal:8443'])('reads hostHeader: %s', (value) => {
    expect(parseConfig(file(...resource('http'), `    hostHeader: ${value}`), 'config.yaml', {}).resources[0]?.hostHeader).toBe(value);
  });

  it.each([
    [
      'a hostHeader on a postgres resource',
      file(...resource('postgres'), '    hostHeader: db.internal'),
      'config.yaml:8 resources.app.hostHeader: applies to http and grpc resources only, not kind postgres — remove it',
    ],
    [
      'a hostHeader that could smuggle a header',
      file(...resource('http'), '    hostHeader: "a\\r\\nX-Access-User: root"'),
      'config.yaml:8 resources.app.hostHeader: must be target, client, or a host name with an optional :port, e.g. grafana.internal',
    ],
  ])('refuses %s', (_, text, message) => {
    expect(refusal(text)).toContain(message);
  });
});
