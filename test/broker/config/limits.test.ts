// The config's `limits:` section: per-caller limits that differ from the defaults (shared/limits.ts).

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';
import { callerLimits, DEFAULT_CALLER_LIMITS } from '../../../shared/limits.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;
const RESOURCE = [
  'resources:',
  '  db:',
  '    kind: postgres',
  '    target: db.internal:5432',
  '    requesters: [sg-eng]',
  '    approvers: [sg-dba]',
  '    maxDuration: 4h',
];

describe('limits in the config', () => {
  it('uses the defaults when the config names none', () => {
    expect(callerLimits(parseConfig(file(...RESOURCE), 'config.yaml', {}).limits)).toEqual(DEFAULT_CALLER_LIMITS);
  });

  it('reads each limit it names and keeps the defaults for the rest', () => {
    const config = parseConfig(
      file(...RESOURCE, 'limits:', '  requestsPerMinute: 30', '  maxPendingPerUser: 5', '  maxTunnelsPerUserPerResource: 8'),
      'config.yaml',
      {},
    );
    expect(callerLimits(config.limits)).toEqual({
      ...DEFAULT_CALLER_LIMITS,
      requestCreation: { burst: 30, perMinute: 30 },
      maxPendingPerUser: 5,
      maxTunnelsPerUserPerResource: 8,
    });
  });

  it.each([
    ['a zero', '  maxPendingPerUser: 0', 'limits.maxPendingPerUser: must be a whole number from 1 to 10000'],
    ['an unknown key', '  maxWidgets: 3', 'limits.maxWidgets'],
  ])('refuses %s, naming the key', (_, line, message) => {
    expect(() => parseConfig(file(...RESOURCE, 'limits:', line), 'config.yaml', {})).toThrow(message);
  });
});
