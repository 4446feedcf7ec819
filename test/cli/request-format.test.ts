import { describe, expect, it } from 'vitest';
import { Output } from '../../cli/output.js';
import { accessUntil, cell, clockTime, outcome, pendingLine, requestPath, span, stillNeeded, untilOrAge } from '../../cli/request-format.js';
import { approvedView, makeView, NOW } from './commands/fakes.js';

const out = new Output({ stdout: process.stdout, stderr: process.stderr }, { NO_COLOR: '1' });
const bob = { oid: 'oid-bob', upn: 'bob@contoso.com' };

describe('request-format', () => {
  it('reads a grant of 1h approved a moment ago as 59 whole minutes left', () => {
    expect(span(3_599_000)).toBe('59m');
    expect(span(45_000)).toBe('45s');
    expect(accessUntil(approvedView(), NOW)).toMatch(/^access until (?:tomorrow )?\d\d:\d\d \(59m\)$/);
  });

  it('names the day only when it is not today: tomorrow, yesterday, else the date', () => {
    const at = (day: number, h: number, m: number): number => new Date(2025, 2, day, h, m).getTime();
    const now = at(4, 14, 0);
    expect(clockTime(at(4, 14, 32), now)).toBe('14:32');
    expect(clockTime(at(5, 0, 29), now)).toBe('tomorrow 00:29');
    expect(clockTime(at(3, 23, 50), now)).toBe('yesterday 23:50');
    expect(clockTime(at(7, 9, 5), now)).toBe('2025-03-07 09:05');
    // Across a month end.
    expect(clockTime(new Date(2025, 2, 1, 0, 10).getTime(), new Date(2025, 1, 28, 23, 50).getTime())).toBe('tomorrow 00:10');
  });

  it('says how many approvals are still missing, and from whom', () => {
    expect(stillNeeded(makeView({ approvalsRequired: 2, approvals: 1, approvers: ['sg-dba', 'sg-sre'] }))).toBe('1 approval from sg-dba or sg-sre');
    expect(pendingLine(makeView({ approvalsRequired: 2 }))).toBe('Request r7f3c0a1b2 PENDING — waiting for 2 approvals from sg-dba (Ctrl-C leaves it pending)');
  });

  // Each row: a final state, the exit code `access request` ends with, and what the line says.
  const outcomes: [string, Parameters<typeof makeView>[0], number, RegExp][] = [
    ['approved', approvedView(), 0, /^✔ Approved by bob@contoso\.com — access until/],
    [
      'approved by two',
      approvedView({
        reviews: [
          { reviewer: bob, decision: 'approve', comment: null, at: '' },
          { reviewer: { oid: 'c', upn: 'carol@contoso.com' }, decision: 'approve', comment: null, at: '' },
        ],
      }),
      0,
      /^✔ Approved by bob@contoso\.com and carol@contoso\.com —/,
    ],
    ['auto-approved', approvedView({ reviews: [], autoApproved: true }), 0, /^✔ Approved by policy/],
    [
      'denied',
      { state: 'denied', closedBy: bob, reviews: [{ reviewer: bob, decision: 'deny', comment: 'use the replica', at: '' }] },
      3,
      /^✖ Denied by bob@contoso\.com: use the replica$/,
    ],
    ['timed out', { state: 'timed_out' }, 5, /timed out with 0 of 1 approvals/],
    ['cancelled', { state: 'cancelled', closedBy: { oid: 'oid-alice', upn: 'alice@contoso.com' } }, 1, /was cancelled by alice@contoso\.com/],
    ['revoked', approvedView({ state: 'revoked', closedBy: bob, closeReason: 'incident over' }), 1, /revoked by bob@contoso\.com: incident over$/],
  ];

  it.each(outcomes)('reads a %s request and picks its exit code', (_name, overrides, exit, line) => {
    const result = outcome(makeView(overrides), NOW, out);
    expect(result.exit).toBe(exit);
    expect(result.line).toMatch(line);
  });

  it('describes each state for the requests table', () => {
    expect(untilOrAge(makeView(), NOW)).toMatch(/^asked 2m ago, open until (?:tomorrow )?\d\d:\d\d$/);
    expect(untilOrAge(approvedView(), NOW)).toMatch(/^until (?:tomorrow )?\d\d:\d\d \(59m\)$/);
    const extension = {
      seq: 1,
      durationMs: 1_800_000,
      reason: null,
      requestedAt: '',
      state: 'pending' as const,
      approvalsRequired: 1,
      approvals: 0,
      reviews: [],
      decidedAt: null,
      previousExpiresAt: '',
    };
    expect(untilOrAge(approvedView({ extensions: [extension] }), NOW)).toMatch(/^until (?:tomorrow )?\d\d:\d\d \(59m\); \+30m asked$/);
    expect(untilOrAge(makeView({ state: 'denied', closedAt: new Date(NOW - 7_200_000).toISOString() }), NOW)).toBe('closed 2h ago');
  });

  it('cuts long reasons to one line for a table cell', () => {
    expect(cell('a\nb')).toBe('a b');
    expect(cell('x'.repeat(50))).toBe(`${'x'.repeat(39)}…`);
    expect(cell(null)).toBe('-');
  });

  it('escapes request ids in API paths', () => {
    expect(requestPath('a/b', 'review')).toBe('/v1/requests/a%2Fb/review');
  });
});
