import { describe, expect, it } from 'vitest';
import type { ResourcePolicy } from '../../../broker/config/types.js';
import { MAX_REASON_LENGTH, MAX_TICKET_LENGTH, openRequest } from '../../../broker/requests/policy.js';
import type { NewRequestInput } from '../../../broker/requests/types.js';
import { AccessError, type ErrorCode } from '../../../shared/errors.js';
import type { GroupRef } from '../../../shared/wire.js';
import { context, groups, HOUR, input, MINUTE, people, policy, T0, type PersonName } from './fixtures.js';

const TICKETS = '^(INC|CHG)-\\d+$';

interface Refusal {
  name: string;
  policy?: Partial<ResourcePolicy>;
  input?: Partial<NewRequestInput>;
  requester?: PersonName;
  /** Groups the directory reports for the requester, instead of theirs. */
  groups?: GroupRef[];
  code: ErrorCode;
  /** Words the message must contain: the bad value and what to do. */
  says: string[];
}

const refusals: Refusal[] = [
  {
    name: 'refuses someone outside the requester groups, naming the groups that may request',
    requester: 'bob',
    code: 'not_a_requester',
    says: ['prod-db', 'only members of sg-eng may', 'Ask an admin'],
  },
  {
    name: 'refuses a requester removed from the group since sign-in (membership read now)',
    groups: [],
    code: 'not_a_requester',
    says: ['sg-eng'],
  },
  {
    name: 'refuses a stranger before looking at anything else they asked for',
    requester: 'mallory',
    input: { duration: '90x', reason: null },
    policy: { reason: 'required' },
    code: 'not_a_requester',
    says: ['sg-eng'],
  },
  {
    name: 'refuses a duration that is not one',
    input: { duration: '90x' },
    code: 'duration_invalid',
    says: ['"90x" is not a duration', 'use e.g. 30m, 1h, 1h30m'],
  },
  {
    name: 'refuses a zero duration',
    input: { duration: '0m' },
    code: 'duration_invalid',
    says: ['"0m"'],
  },
  {
    name: 'refuses a request above maxDuration, saying the max',
    input: { duration: '4h1m' },
    code: 'duration_too_long',
    says: ['"4h1m"', 'at most 4h', 'ask for 4h or less'],
  },
  {
    name: 'refuses a missing reason when the policy requires one',
    policy: { reason: 'required' },
    input: { reason: null },
    code: 'reason_required',
    says: ['prod-db requires a reason', '--reason'],
  },
  {
    name: 'counts a blank reason as missing',
    policy: { reason: 'required' },
    input: { reason: ' \t ' },
    code: 'reason_required',
    says: ['requires a reason'],
  },
  {
    name: 'refuses a reason above the length limit, even when reasons are optional',
    input: { reason: 'x'.repeat(MAX_REASON_LENGTH + 1) },
    code: 'reason_too_long',
    says: [`${MAX_REASON_LENGTH + 1} characters`, `at most ${MAX_REASON_LENGTH}`],
  },
  {
    name: 'refuses a reason carrying a terminal escape sequence',
    input: { reason: 'fix \u001b]0;pwned\u0007 now' },
    code: 'reason_invalid',
    says: ['U+001B', 'plain text on one line'],
  },
  {
    name: 'refuses a reason spanning several lines',
    input: { reason: 'INC-1\nApproved by: bob' },
    code: 'reason_invalid',
    says: ['U+000A'],
  },
  {
    name: 'refuses a reason with a bidirectional override',
    input: { reason: 'INC-1 \u202Eevil' },
    code: 'reason_invalid',
    says: ['U+202E'],
  },
  {
    name: 'refuses a missing ticket when the policy has a ticketPattern',
    policy: { ticketPattern: TICKETS },
    input: { ticket: null },
    code: 'ticket_required',
    says: ['prod-db requires a ticket', TICKETS, '--ticket'],
  },
  {
    name: 'refuses a ticket that does not match, quoting the ticket and the pattern',
    policy: { ticketPattern: TICKETS },
    input: { ticket: 'JIRA-12' },
    code: 'ticket_invalid',
    says: ['"JIRA-12"', `/${TICKETS}/`],
  },
  {
    name: 'matches the ticketPattern against the whole ticket, even when the pattern is not anchored',
    policy: { ticketPattern: 'INC-\\d+' },
    input: { ticket: 'xINC-1y' },
    code: 'ticket_invalid',
    says: ['"xINC-1y"'],
  },
  {
    name: 'refuses a ticket above the length limit',
    input: { ticket: `INC-${'1'.repeat(MAX_TICKET_LENGTH)}` },
    code: 'ticket_invalid',
    says: [`at most ${MAX_TICKET_LENGTH}`],
  },
];

describe('openRequest refusals', () => {
  it.each(refusals)('$name', (row) => {
    const requester = people[row.requester ?? 'alice'];
    const p = policy(row.policy);
    const error = refusal(() => openRequest(input(row.input), requester.actor, row.groups ?? requester.groups, context(p, T0), 'req-1'));
    expect(error.code).toBe(row.code);
    for (const words of row.says) expect(error.message).toContain(words);
  });

  it('maps each refusal to the HTTP status and exit code of its family', () => {
    const forbidden = refusal(() => openRequest(input(), people.bob.actor, people.bob.groups, context(policy(), T0), 'r'));
    expect([forbidden.status, forbidden.exitCode]).toEqual([403, 3]);
    const bad = refusal(() => openRequest(input({ duration: '9h' }), people.alice.actor, people.alice.groups, context(policy(), T0), 'r'));
    expect([bad.status, bad.exitCode]).toEqual([400, 2]);
  });
});

describe('openRequest', () => {
  it('opens a pending request that times out after requestTtl and has not started the access clock', () => {
    const p = policy({ requestTtlMs: 30 * MINUTE, approvals: 2 });
    const { request, changes } = openRequest(input({ duration: '1h30m' }), people.alice.actor, people.alice.groups, context(p, T0), 'req-1');
    expect(changes).toEqual(['created']);
    expect(request).toEqual({
      id: 'req-1',
      resource: 'prod-db',
      requester: people.alice.actor,
      durationMs: 90 * MINUTE,
      reason: 'INC-4211: stuck migration',
      ticket: null,
      state: 'pending',
      createdAt: T0,
      pendingUntil: T0 + 30 * MINUTE,
      approvalsRequired: 2,
      reviews: [],
      grantedAt: null,
      expiresAt: null,
      closedAt: null,
      closedBy: null,
      closeReason: null,
      autoApproved: false,
      extensions: [],
      breakGlass: false,
      postReview: null,
    });
  });

  it('uses the default duration when none is asked for', () => {
    const { request } = openRequest(
      input({ duration: null }),
      people.alice.actor,
      people.alice.groups,
      context(policy({ defaultDurationMs: 2 * HOUR }), T0),
      'r',
    );
    expect(request.durationMs).toBe(2 * HOUR);
  });

  it('accepts exactly maxDuration', () => {
    const { request } = openRequest(input({ duration: '4h' }), people.alice.actor, people.alice.groups, context(policy(), T0), 'r');
    expect(request.durationMs).toBe(4 * HOUR);
  });

  it('refuses a default duration above maxDuration rather than grant more than the policy allows', () => {
    const p = policy({ defaultDurationMs: 5 * HOUR });
    const error = refusal(() => openRequest(input({ duration: null }), people.alice.actor, people.alice.groups, context(p, T0), 'r'));
    expect(error.code).toBe('duration_too_long');
  });

  it('stores reason and ticket trimmed, and an empty optional reason as none', () => {
    const p = policy({ ticketPattern: TICKETS });
    const { request } = openRequest(input({ reason: '  ', ticket: ' CHG-77 ' }), people.alice.actor, people.alice.groups, context(p, T0), 'r');
    expect(request.reason).toBeNull();
    expect(request.ticket).toBe('CHG-77');
  });

  it('accepts a reason of exactly the length limit', () => {
    const reason = 'x'.repeat(MAX_REASON_LENGTH);
    const { request } = openRequest(input({ reason }), people.alice.actor, people.alice.groups, context(policy(), T0), 'r');
    expect(request.reason).toBe(reason);
  });

  it('matches requester groups by object id as well as by display name', () => {
    const p = policy({ requesters: [groups.eng.id] });
    const { request } = openRequest(input(), people.alice.actor, people.alice.groups, context(p, T0), 'r');
    expect(request.state).toBe('pending');
  });

  it('approves a member of an autoApprove group at creation, starting the access clock then', () => {
    const { request, changes } = openRequest(input({ duration: '2h' }), people.oscar.actor, people.oscar.groups, context(policy(), T0), 'r');
    expect(changes).toEqual(['created', 'auto_approved']);
    expect(request).toMatchObject({ state: 'approved', autoApproved: true, reviews: [], grantedAt: T0, expiresAt: T0 + 2 * HOUR });
  });

  it('still holds an auto-approved request to the policy limits', () => {
    const error = refusal(() => openRequest(input({ duration: '5h' }), people.oscar.actor, people.oscar.groups, context(policy(), T0), 'r'));
    expect(error.code).toBe('duration_too_long');
  });

  it('does not let an autoApprove group member who may not request through the door', () => {
    const onCallOnly = [groups.oncall];
    const error = refusal(() => openRequest(input(), people.oscar.actor, onCallOnly, context(policy(), T0), 'r'));
    expect(error.code).toBe('not_a_requester');
  });

  it('grants break-glass at once to a member of breakGlass.groups, who need not be a requester, marked and without approvals', () => {
    const p = policy({ breakGlass: { groups: ['sg-oncall'], maxDurationMs: HOUR }, ticketPattern: TICKETS });
    const onCallOnly = [groups.oncall];
    const { request, changes } = openRequest(input({ breakGlass: true, duration: null }), people.oscar.actor, onCallOnly, context(p, T0), 'r');
    expect(changes).toEqual(['created', 'break_glass']);
    // No ticket in an emergency; the default duration (1h) within breakGlass.maxDuration.
    expect(request).toMatchObject({
      state: 'approved',
      breakGlass: true,
      autoApproved: false,
      postReview: null,
      grantedAt: T0,
      expiresAt: T0 + HOUR,
      ticket: null,
    });
  });

  it.each([
    ['a resource without breakGlass', {}, people.oscar.groups, input({ breakGlass: true }), 'break_glass_not_allowed', 'has no break-glass access'],
    [
      'someone outside breakGlass.groups',
      { breakGlass: { groups: ['sg-oncall'], maxDurationMs: HOUR } },
      people.alice.groups,
      input({ breakGlass: true }),
      'break_glass_not_allowed',
      'only members of sg-oncall may',
    ],
    [
      'no reason',
      { breakGlass: { groups: ['sg-oncall'], maxDurationMs: HOUR } },
      people.oscar.groups,
      input({ breakGlass: true, reason: '  ' }),
      'reason_required',
      'Break-glass access needs a reason',
    ],
    [
      'more than breakGlass.maxDuration',
      { breakGlass: { groups: ['sg-oncall'], maxDurationMs: HOUR } },
      people.oscar.groups,
      input({ breakGlass: true, duration: '2h' }),
      'duration_too_long',
      'at most 1h',
    ],
  ] as const)('refuses break-glass with %s', (_name, overrides, memberOf, asked, code, says) => {
    const error = refusal(() => openRequest(asked, people.oscar.actor, memberOf, context(policy(overrides as Partial<ResourcePolicy>), T0), 'r'));
    expect(error.code).toBe(code);
    expect(error.message).toContain(says);
  });

  it('refuses to run with the policy of another resource', () => {
    const error = refusal(() => openRequest(input({ resource: 'prod-ssh' }), people.alice.actor, people.alice.groups, context(policy(), T0), 'r'));
    expect(error.code).toBe('internal');
  });
});

function refusal(run: () => unknown): AccessError {
  try {
    run();
  } catch (error) {
    if (error instanceof AccessError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}
