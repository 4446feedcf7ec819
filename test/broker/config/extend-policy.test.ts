// `extend:` of a resource: how a live grant may be extended (ExtendPolicy), and the refusals of
// an extend policy that contradicts itself or the resource.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** A resource with a 4h maxDuration (lines 1-7) the cases add to. */
const resource = [
  'resources:',
  '  db:',
  '    kind: postgres',
  '    target: db.internal:5432',
  '    requesters: [sg-eng]',
  '    approvers: [sg-dba]',
  '    maxDuration: 4h',
];

function refusal(text: string): string {
  try {
    parseConfig(text, 'config.yaml', {});
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('extend policy', () => {
  it('allows no extension when the resource says nothing', () => {
    expect(parseConfig(file(...resource), 'config.yaml', {}).resources[0]?.extend).toBeUndefined();
  });

  it('reads approval: required, and makes it the default', () => {
    const written = parseConfig(file(...resource, '    extend: { maxTotal: 8h, approval: required }'), 'config.yaml', {});
    expect(written.resources[0]?.extend).toEqual({ maxTotalMs: 8 * 3_600_000, autoApproveWithinMs: null });
    const unwritten = parseConfig(file(...resource, '    extend: { maxTotal: 8h }'), 'config.yaml', {});
    expect(unwritten.resources[0]?.extend).toEqual({ maxTotalMs: 8 * 3_600_000, autoApproveWithinMs: null });
  });

  it('reads approval: { none-within: 1h } as extra time approved by policy', () => {
    const config = parseConfig(file(...resource, '    extend:', '      maxTotal: 8h', '      approval: { none-within: 1h }'), 'config.yaml', {});
    expect(config.resources[0]?.extend).toEqual({ maxTotalMs: 8 * 3_600_000, autoApproveWithinMs: 3_600_000 });
  });

  it.each([
    ['a maxTotal below maxDuration', '    extend: { maxTotal: 2h }', /config.yaml:8 resources\.db\.extend\.maxTotal: must be at least maxDuration \(4h\)/],
    [
      'a none-within as long as maxTotal',
      '    extend: { maxTotal: 8h, approval: { none-within: 8h } }',
      /extend\.approval\.none-within: must be shorter than extend\.maxTotal/,
    ],
    [
      'an approval word it does not know',
      '    extend: { maxTotal: 8h, approval: never }',
      /extend\.approval: must be "required" or \{ none-within: DURATION \}/,
    ],
    ['a maxTotal that is not a duration', '    extend: { maxTotal: soon }', /extend\.maxTotal: is not a duration/],
    ['a missing maxTotal', '    extend: { approval: required }', /extend\.maxTotal: is required/],
    ['a misspelt key', '    extend: { maxTotl: 8h }', /did you mean "maxTotal"/],
  ])('refuses %s, naming the key', (_name, line, expected) => {
    expect(refusal(file(...resource, line))).toMatch(expected);
  });
});
