// The audit entries of the request lifecycle: one per RequestChange, written by the request
// service in the transaction that stores the change, and one per refusal of what a caller asked.

import type { AccessError } from '../../shared/errors.js';
import { MAX_AUDIT_COPY_CHARS } from '../../shared/limits.js';
import type { AccessRequest, Actor, RequestChange } from '../requests/types.js';
import { CONDITION_OF_CODE } from '../policy/conditions.js';
import type { NewAuditEntry } from './entry.js';

/** What a caller tried when the broker refused it (`connect`: opening a tunnel). */
export type RefusedAction = 'create' | 'review' | 'cancel' | 'revoke' | 'connect' | 'extend' | 'post_review';

/** Changes the clock makes: nobody acted, whoever's call happened to apply them. */
const CLOCK_CHANGES: ReadonlySet<RequestChange> = new Set(['timed_out', 'expired']);

/**
 * One entry per change, in order. `actor` is who caused the changes (null for the deadline sweep);
 * `at` is the instant the service applied them.
 */
export function requestEntries(request: AccessRequest, changes: readonly RequestChange[], actor: Actor | null, at: number): NewAuditEntry[] {
  return changes.map((change) => ({
    type: `request.${change}`,
    at,
    actor: CLOCK_CHANGES.has(change) ? null : actor,
    subject: request.id,
    resource: request.resource,
    body: changeBody(request, change),
  }));
}

/**
 * A copy of refused input small enough to log for anyone who can sign in: text longer than
 * MAX_AUDIT_COPY_CHARS is cut, and `<key>Length` keeps its original length beside it.
 */
export function boundedCopy(details: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (typeof value === 'string' && value.length > MAX_AUDIT_COPY_CHARS) {
      copy[key] = `${value.slice(0, MAX_AUDIT_COPY_CHARS)}…`;
      copy[`${key}Length`] = value.length;
    } else {
      copy[key] = value;
    }
  }
  return copy;
}

/** A bounded identifier for an entry's subject or resource column (see boundedCopy). */
function boundedId(value: string | null): string | null {
  return value === null || value.length <= MAX_AUDIT_COPY_CHARS ? value : `${value.slice(0, MAX_AUDIT_COPY_CHARS)}…`;
}

/** A refusal: who tried what, and the code and message they were given; what they sent, bounded. */
export function refusalEntry(
  action: RefusedAction,
  actor: Actor,
  target: { requestId: string | null; resource: string | null },
  error: AccessError,
  details: Record<string, unknown>,
  at: number,
): NewAuditEntry {
  return {
    type: 'policy.refused',
    at,
    actor,
    subject: boundedId(target.requestId),
    resource: boundedId(target.resource),
    // The message is the broker's own words (quoting at most a field within its API limit).
    // A resource condition's refusal names the condition (requireMfa, hours, …) beside its code.
    body: { action, code: error.code, ...conditionOf(error), message: error.message, ...boundedCopy(details) },
  };
}

function conditionOf(error: AccessError): { condition?: string } {
  const condition = CONDITION_OF_CODE[error.code];
  return condition ? { condition } : {};
}

function changeBody(request: AccessRequest, change: RequestChange): Record<string, unknown> {
  switch (change) {
    case 'created':
      return {
        durationMs: request.durationMs,
        reason: request.reason,
        ticket: request.ticket,
        pendingUntil: iso(request.pendingUntil),
        approvalsRequired: request.approvalsRequired,
      };
    case 'auto_approved':
    case 'approved':
      return {
        grantedAt: iso(request.grantedAt),
        expiresAt: iso(request.expiresAt),
        approvers: request.reviews.filter((r) => r.decision === 'approve').map((r) => r.reviewer.upn ?? r.reviewer.oid),
      };
    case 'review_recorded': {
      const review = request.reviews[request.reviews.length - 1];
      return review ? { decision: review.decision, comment: review.comment, reviewer: review.reviewer.upn ?? review.reviewer.oid } : {};
    }
    case 'denied':
    case 'revoked':
    case 'cancelled':
      return { reason: request.closeReason };
    case 'timed_out':
      return { pendingUntil: iso(request.pendingUntil) };
    case 'expired':
      return { expiresAt: iso(request.expiresAt) };
    case 'extension_requested':
    case 'extension_review_recorded':
    case 'extended':
    case 'extension_denied':
    case 'extension_lapsed':
      return extensionBody(request, change);
    case 'break_glass':
      return { reason: request.reason, ticket: request.ticket, grantedAt: iso(request.grantedAt), expiresAt: iso(request.expiresAt), breakGlass: true };
    case 'post_reviewed':
      return request.postReview
        ? {
            verdict: request.postReview.verdict,
            comment: request.postReview.comment,
            reviewer: request.postReview.reviewer.upn ?? request.postReview.reviewer.oid,
          }
        : {};
  }
}

/** The extension a change concerns: the pending one, else the last decided (the one just decided). */
function extensionBody(request: AccessRequest, change: RequestChange): Record<string, unknown> {
  const extension = request.extensions.at(-1);
  if (!extension) return {};
  const body: Record<string, unknown> = {
    extension: extension.seq,
    durationMs: extension.durationMs,
    reason: extension.reason,
    previousExpiresAt: iso(extension.previousExpiresAt),
    expiresAt: iso(request.expiresAt),
    approvalsRequired: extension.approvalsRequired,
  };
  const review = extension.reviews.at(-1);
  if (change === 'extension_review_recorded' && review) {
    return { ...body, decision: review.decision, comment: review.comment, reviewer: review.reviewer.upn ?? review.reviewer.oid };
  }
  if (change === 'extended')
    return { ...body, approvers: extension.reviews.filter((r) => r.decision === 'approve').map((r) => r.reviewer.upn ?? r.reviewer.oid) };
  return body;
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}
