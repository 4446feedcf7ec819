// A resource's `conditions:` and the top-level `trustedProxies:` in the config file: read when
// written, absent otherwise, and each mistake refused at load with the key and what to write.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;
const resource = [
  'resources:', //                   1
  '  db:', //                        2
  '    kind: postgres', //           3
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

describe('conditions in the config', () => {
  it('reads every condition and the trusted proxies', () => {
    const config = parseConfig(
      file(
        'trustedProxies: [10.0.5.0/24]',
        ...resource,
        '    conditions:',
        '      requireMfa: true',
        '      requireAuthContext: c1',
        '      maxSignInAge: 8h',
        '      sourceNetworks: [10.0.0.0/8, "2001:db8::/32"]',
        '      hours: Mon-Fri 07:00-19:00 Europe/Berlin',
      ),
      'config.yaml',
      {},
    );
    const conditions = config.resources[0]?.conditions;
    expect(conditions).toMatchObject({ requireMfa: true, requireAuthContext: 'c1', maxSignInAgeMs: 8 * 3_600_000 });
    expect(conditions?.sourceNetworks?.describe()).toBe('10.0.0.0/8, 2001:db8::/32');
    expect(conditions?.hours?.timeZone).toBe('Europe/Berlin');
    expect(config.trustedProxies?.contains('10.0.5.9')).toBe(true);
  });

  it('leaves a resource without conditions and a broker without trusted proxies', () => {
    const config = parseConfig(file(...resource), 'config.yaml', {});
    expect(config.resources[0]?.conditions).toBeUndefined();
    expect(config.trustedProxies).toBeUndefined();
  });

  it.each([
    [['      requireMfa: yes please'], /resources\.db\.conditions\.requireMfa: must be true or false/],
    [['      requireAuthContext: mfa'], /requireAuthContext: must be an Entra authentication context id, c1 to c99/],
    [['      maxSignInAge: soon'], /maxSignInAge: is not a duration/],
    [
      ['      sourceNetworks: [10.0.0.0/8, 300.1.1.1/8]'],
      /config\.yaml:9 resources\.db\.conditions\.sourceNetworks\[1\]: "300\.1\.1\.1" is not an IPv4 or IPv6 address/,
    ],
    [['      sourceNetworks: []'], /sourceNetworks: must name at least one network/],
    [['      hours: Mon-Fri 07:00-19:00 Mars/Olympus'], /hours: "Mars\/Olympus" is not a time zone this system knows/],
    [['      hours: weekdays 9-5'], /hours: has 2 parts, not 3/],
    [['      requireMFA: true'], /conditions\.requireMFA: unknown key — did you mean "requireMfa"\?/],
  ])('refuses %j', (lines, message) => {
    expect(refusal(file(...resource, '    conditions:', ...lines))).toMatch(message);
  });

  it('refuses a trusted proxy that is not a network', () => {
    expect(refusal(file('trustedProxies: [my-proxy]', ...resource))).toMatch(/config\.yaml:1 trustedProxies\[0\]: "my-proxy" is not an IPv4 or IPv6 address/);
  });
});
