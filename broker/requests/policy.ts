// Whether a new access request is allowed by its resource's policy, and the request it becomes.
// Pure: the caller reads the clock, the requester's groups (from the directory, at this moment)
// and a fresh id, and stores the result.

import { AccessError, type ErrorCode } from '../../shared/errors.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { MAX_REASON_CHARS, MAX_TICKET_CHARS } from '../../shared/limits.js';
import type { GroupRef } from '../../shared/wire.js';
import type { ResourcePolicy } from '../config/types.js';
import { inAnyGroup } from '../identity/directory.js';
import { checkBreakGlass } from './break-glass.js';
import { grantAccess } from './grant.js';
import type { AccessRequest, Actor, NewRequestInput, RequestChange } from './types.js';
import { groupList } from './wording.js';

/** Longest reason, review comment or revoke reason, in characters (shared/limits.ts says why). */
export const MAX_REASON_LENGTH = MAX_REASON_CHARS;

/** Longest ticket id (shared/limits.ts says why). */
export const MAX_TICKET_LENGTH = MAX_TICKET_CHARS;

/**
 * Characters refused in free text shown in other people's terminals: C0/C1 controls (escape
 * sequences could repaint an approver's screen; newlines break tables and log lines) and the
 * Unicode bidirectional overrides that make text read differently from what it is.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point: they are refused.
const UNSAFE_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

export interface RequestContext {
  /** The policy of the request's resource, as configured now. */
  policy: ResourcePolicy;
  /** Admin groups of the broker (BrokerConfig.admins). */
  admins: readonly string[];
  /** The instant of the action, ms since epoch. */
  now: number;
  /**
   * The requesting workload's client id (lower case) when a service principal asks: it may request
   * when the policy's `workloads` names it (groups are a person's), and is approved by policy when
   * `autoApproveWorkloads` does. Absent for a person.
   */
  workload?: string | null;
}

/**
 * Validates a new request and builds it: pending, or approved at once when the requester is in one
 * of the policy's autoApprove groups. `requesterGroups` is the requester's membership read now.
 */
export function openRequest(
  input: NewRequestInput,
  requester: Actor,
  requesterGroups: readonly GroupRef[],
  ctx: RequestContext,
  id: string,
): { request: AccessRequest; changes: RequestChange[] } {
  const { policy, now } = ctx;
  assertPolicyFor(input.resource, policy);
  if (input.breakGlass) return openBreakGlass(input, requester, requesterGroups, ctx, id);
  const workload = ctx.workload ?? null;
  // Who asks comes first: a stranger learns nothing about the resource's other rules.
  if (workload !== null && !policy.workloads.includes(workload)) {
    throw new AccessError(
      'not_a_workload',
      `The workload ${workload} may not request access to ${policy.name}: an administrator adds its client id to resources.${policy.name}.workloads.`,
    );
  }
  if (workload === null && !inAnyGroup(requesterGroups, policy.requesters)) {
    throw new AccessError(
      'not_a_requester',
      `You may not request access to ${policy.name}: only members of ${groupList(policy.requesters, policy.groupNames)} may. ` +
        'Ask an admin to add you to one of those groups.',
    );
  }
  const request = newRequest(id, policy, requester, now, {
    durationMs: checkDuration(input.duration, policy),
    reason: checkReason(input.reason, policy),
    ticket: checkTicket(input.ticket, policy),
  });
  const approvedByPolicy = workload === null ? inAnyGroup(requesterGroups, policy.autoApprove) : policy.autoApproveWorkloads.includes(workload);
  if (!approvedByPolicy) return { request, changes: ['created'] };
  return { request: grantAccess(request, now, true), changes: ['created', 'auto_approved'] };
}

/** A pending request as validated: the one shape every new request starts from. */
function newRequest(
  id: string,
  policy: ResourcePolicy,
  requester: Actor,
  now: number,
  asked: { durationMs: number; reason: string | null; ticket: string | null },
): AccessRequest {
  return {
    id,
    resource: policy.name,
    requester,
    ...asked,
    state: 'pending',
    createdAt: now,
    pendingUntil: now + policy.requestTtlMs,
    approvalsRequired: policy.approvals,
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
  };
}

/**
 * Break-glass (break-glass.ts): granted at once to a member of breakGlass.groups, who need not be a
 * requester; a reason is always required, a ticket is optional (an emergency may not have one yet).
 */
function openBreakGlass(
  input: NewRequestInput,
  requester: Actor,
  requesterGroups: readonly GroupRef[],
  ctx: RequestContext,
  id: string,
): { request: AccessRequest; changes: RequestChange[] } {
  const { policy, now } = ctx;
  const durationMs = checkBreakGlass(policy, requesterGroups, input.duration);
  const reason = checkFreeText(input.reason, 'reason', MAX_REASON_LENGTH, 'reason_too_long', 'reason_invalid');
  if (reason === null) {
    throw new AccessError('reason_required', `Break-glass access needs a reason: say what the emergency is, e.g. --reason "INC-4211: orders are failing".`);
  }
  const ticket = checkFreeText(input.ticket, 'ticket', MAX_TICKET_LENGTH, 'ticket_invalid', 'ticket_invalid');
  const request = { ...newRequest(id, policy, requester, now, { durationMs, reason, ticket }), breakGlass: true };
  return { request: grantAccess(request, now, false), changes: ['created', 'break_glass'] };
}

/**
 * A review comment or revoke reason: trimmed, null when empty; the refusal (a value, for the state
 * machine) when too long or unsafe to print. `label` names it in the message ("comment", "revoke reason").
 */
export function readComment(text: string | null, label: string): { ok: true; comment: string | null } | { ok: false; refusal: AccessError } {
  const trimmed = text?.trim() ?? '';
  if (trimmed === '') return { ok: true, comment: null };
  const refusal = freeTextProblem(trimmed, label, MAX_REASON_LENGTH, 'reason_too_long', 'reason_invalid');
  return refusal ? { ok: false, refusal } : { ok: true, comment: trimmed };
}

/** Throws `internal` when the caller passed the policy of another resource: approvers would be the wrong people. */
export function assertPolicyFor(resource: string, policy: ResourcePolicy): void {
  if (resource === policy.name) return;
  throw new AccessError('internal', `Policy of ${JSON.stringify(policy.name)} applied to a request for ${JSON.stringify(resource)}.`);
}

function checkDuration(text: string | null, policy: ResourcePolicy): number {
  const asked = text === null || text.trim() === '' ? null : text;
  const durationMs = asked === null ? policy.defaultDurationMs : parseDuration(asked);
  if (durationMs === undefined) {
    throw new AccessError('duration_invalid', `${JSON.stringify(asked)} is not a duration — use e.g. 30m, 1h, 1h30m.`);
  }
  if (durationMs <= policy.maxDurationMs) return durationMs;
  const shown = asked === null ? `The default duration ${formatDuration(durationMs)}` : JSON.stringify(asked);
  throw new AccessError(
    'duration_too_long',
    `${shown} is longer than ${policy.name} allows (at most ${formatDuration(policy.maxDurationMs)}) — ` +
      `ask for ${formatDuration(policy.maxDurationMs)} or less.`,
  );
}

function checkReason(text: string | null, policy: ResourcePolicy): string | null {
  const reason = checkFreeText(text, 'reason', MAX_REASON_LENGTH, 'reason_too_long', 'reason_invalid');
  if (reason !== null || policy.reason === 'optional') return reason;
  throw new AccessError('reason_required', `${policy.name} requires a reason — say why you need access, e.g. --reason "INC-4211: stuck migration".`);
}

function checkTicket(text: string | null, policy: ResourcePolicy): string | null {
  const ticket = checkFreeText(text, 'ticket', MAX_TICKET_LENGTH, 'ticket_invalid', 'ticket_invalid');
  if (policy.ticketPattern === null) return ticket;
  if (ticket === null) {
    throw new AccessError('ticket_required', `${policy.name} requires a ticket matching /${policy.ticketPattern}/ — pass one with --ticket.`);
  }
  if (ticketPattern(policy).test(ticket)) return ticket;
  throw new AccessError(
    'ticket_invalid',
    `Ticket ${JSON.stringify(ticket)} does not match /${policy.ticketPattern}/ required by ${policy.name} — ` +
      'use the id of the incident or change you work on.',
  );
}

/**
 * The policy's ticket pattern, anchored to the whole ticket: a pattern describes what a ticket id
 * looks like, so "xINC-1y" must not pass /INC-\d+/ just because it contains a match.
 */
function ticketPattern(policy: ResourcePolicy): RegExp {
  try {
    return new RegExp(`^(?:${policy.ticketPattern})$`);
  } catch (cause) {
    // The config loader refuses bad patterns at start; reaching this is a config that bypassed it.
    throw new AccessError('config_invalid', `ticketPattern of ${policy.name} is not a valid regular expression.`, { cause });
  }
}

function checkFreeText(text: string | null, label: string, maxLength: number, tooLong: ErrorCode, invalid: ErrorCode): string | null {
  const trimmed = text?.trim() ?? '';
  if (trimmed === '') return null;
  const problem = freeTextProblem(trimmed, label, maxLength, tooLong, invalid);
  if (problem) throw problem;
  return trimmed;
}

/** Why a trimmed, non-empty free text is refused, or null when it is fine. */
function freeTextProblem(trimmed: string, label: string, maxLength: number, tooLong: ErrorCode, invalid: ErrorCode): AccessError | null {
  if (trimmed.length > maxLength) {
    return new AccessError(tooLong, `The ${label} is ${trimmed.length} characters long; at most ${maxLength} are allowed — shorten it.`);
  }
  const unsafe = UNSAFE_CHARACTER.exec(trimmed);
  if (unsafe === null) return null;
  const codePoint = `U+${(unsafe[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  return new AccessError(
    invalid,
    `The ${label} ${JSON.stringify(trimmed)} contains the control character ${codePoint} at position ${unsafe.index + 1} — ` + 'use plain text on one line.',
  );
}
