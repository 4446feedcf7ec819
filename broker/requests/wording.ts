// How requests, people and instants read in refusal messages. One place, so the CLI user sees the
// same words for the same thing whichever check refused them.

import type { Principal } from '../auth/principal.js';
import type { AccessRequest, Actor } from './types.js';

/**
 * Who acted, as requests and the audit log record it. A workload has no UPN: it is recorded by its
 * display name and client id ("nightly-export (app 2f6a…)"), its service principal's object id as the key.
 */
export function actorOf(principal: Principal): Actor {
  if (principal.kind === 'user') return { oid: principal.oid, upn: principal.upn };
  const app = `app ${principal.appId ?? 'unknown'}`;
  return { oid: principal.oid, upn: principal.name ? `${principal.name} (${app})` : app };
}

/** The name people know someone by: the UPN, or the object id for an app without one. */
export function actorName(actor: Actor): string {
  return actor.upn ?? actor.oid;
}

/**
 * Group references as a list for a message; an empty list is named so it reads as a config gap.
 * `names` (by lower-case object id) puts the name people know first and keeps the id for the record.
 */
export function groupList(refs: readonly string[], names: GroupNames = {}): string {
  return refs.length === 0 ? '(no groups configured)' : describeGroups(refs, names).join(', ');
}

/** Display names of groups by lower-case object id (config labels, or the tenant's names read at start). */
export type GroupNames = Readonly<Record<string, string>>;

/** Each reference as people read it: "sg-dba (0f8e…)" for a named id, else as written. */
export function describeGroups(refs: readonly string[], names: GroupNames = {}): string[] {
  return refs.map((ref) => {
    const name = Object.hasOwn(names, ref.toLowerCase()) ? names[ref.toLowerCase()] : undefined;
    return name === undefined ? ref : `${name} (${ref})`;
  });
}

/**
 * An instant as "14:32 UTC", with the date in front when it is not the same UTC day as `now`.
 * UTC because the message travels from the broker to a CLI that may sit in another time zone, and
 * the domain is pure (no process time zone).
 */
export function formatInstant(at: number, now: number): string {
  const iso = new Date(at).toISOString();
  const time = `${iso.slice(11, 16)} UTC`;
  const sameDay = iso.slice(0, 10) === new Date(now).toISOString().slice(0, 10);
  return sameDay ? time : `${iso.slice(0, 10)} ${time}`;
}

/** What has become of a request, as the end of a sentence starting with "request ID ". */
/** " by policy", " by bob@…, carol@…", or "" when nobody is on record. */
function approvedBy(request: AccessRequest): string {
  if (request.autoApproved) return ' by policy';
  const approvers = request.reviews.filter((r) => r.decision === 'approve').map((r) => actorName(r.reviewer));
  return approvers.length > 0 ? ` by ${approvers.join(', ')}` : '';
}

export function describeState(request: AccessRequest, now: number): string {
  const by = request.closedBy ? ` by ${actorName(request.closedBy)}` : '';
  const when = (at: number | null): string => (at === null ? '' : ` at ${formatInstant(at, now)}`);
  switch (request.state) {
    case 'pending':
      return `is still pending (until ${formatInstant(request.pendingUntil, now)}) and not granted yet`;
    case 'approved':
      return `is already approved${approvedBy(request)} (access until ${formatInstant(request.expiresAt ?? now, now)})`;
    case 'denied':
      return `was denied${by}${when(request.closedAt)}`;
    case 'cancelled':
      return `was cancelled${by}${when(request.closedAt)}`;
    case 'timed_out':
      return `timed out${when(request.closedAt)} before it got enough approvals`;
    case 'expired':
      return `was granted and the grant expired${when(request.closedAt)}`;
    case 'revoked':
      return `was granted and then revoked${by}${when(request.closedAt)}`;
  }
}
