// `breakGlass:` of a resource: who may take access at once in an emergency, and for how long.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;

const resource = [
  'resources:',
  '  db:',
  '    kind: postgres',
  '    target: db.internal:5432',
  '    requesters: [sg-eng]',
  '    approvers: [sg-dba]',
  '    maxDuration: 4h',
];

function refusal(text: string, options: Parameters<typeof parseConfig>[2] = {}): string {
  try {
    parseConfig(text, 'config.yaml', options);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('breakGlass policy', () => {
  it('is absent unless written, and reads groups and maxDuration', () => {
    expect(parseConfig(file(...resource), 'config.yaml', {}).resources[0]?.breakGlass).toBeUndefined();
    const config = parseConfig(file(...resource, '    breakGlass: { groups: [sg-oncall], maxDuration: 1h }'), 'config.yaml', {});
    expect(config.resources[0]?.breakGlass).toEqual({ groups: ['sg-oncall'], maxDurationMs: 3_600_000 });
  });

  it.each([
    [
      'a maxDuration above the resource maxDuration',
      '    breakGlass: { groups: [sg-oncall], maxDuration: 5h }',
      /breakGlass\.maxDuration: must not be longer than maxDuration \(4h\)/,
    ],
    ['no groups', '    breakGlass: { groups: [], maxDuration: 1h }', /breakGlass\.groups: must name at least one/],
    ['no maxDuration', '    breakGlass: { groups: [sg-oncall] }', /breakGlass\.maxDuration: is required/],
    [
      'an unknown key',
      '    breakGlass: { groups: [sg-oncall], maxDuration: 1h, approval: none }',
      /breakGlass\.approval: unknown key — allowed here: groups, maxDuration/,
    ],
  ])('refuses %s, naming the key', (_name, line, expected) => {
    expect(refusal(file(...resource, line))).toMatch(expected);
  });
});
