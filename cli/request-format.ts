// How a request reads in the terminal: its state, its times ("access until 14:32 (59m)"), who
// decided it, and the one line that tells a waiting requester what happened (plus its API path).
// One place, so `request`, `requests`, `approve`, `review` and `watch` say the same thing the same way.
//
// Times are the reader's local wall clock (the person is at this terminal); all functions take
// `now` so the output does not depend on when a test runs.

import { formatDuration } from '../shared/duration.js';
import { ExitCode } from '../shared/errors.js';
import type { ActorView, ExtensionView, RequestStateName, RequestView } from '../shared/wire.js';
import type { Output } from './output.js';

/** Reasons longer than this are cut in table cells; `--json` and `access review` show them whole. */
export const REASON_COLUMN_WIDTH = 40;

const MINUTE_MS = 60_000;

/** The name people know someone by: the UPN, or the object id for an app without one. */
export function actorName(actor: ActorView): string {
  return actor.upn ?? actor.oid;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** "14:02:11": a local time of day to the second, for the lines of a live feed. */
export function timeOfDay(at: number): string {
  const d = new Date(at);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Local calendar day number of an instant, to compare days across month ends. */
function dayNumber(at: number): number {
  const d = new Date(at);
  return Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) / 86_400_000;
}

/** "14:32" today; "tomorrow 00:29" / "yesterday 23:50"; "2025-03-04 14:32" further away (local time). */
export function clockTime(at: number, now: number): string {
  const d = new Date(at);
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  const days = dayNumber(at) - dayNumber(now);
  if (days === 0) return time;
  if (days === 1) return `tomorrow ${time}`;
  if (days === -1) return `yesterday ${time}`;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
}

/**
 * A span as people read it on a clock: whole minutes (rounded down) from a minute up, so a grant
 * of 1h approved a moment ago reads "59m", like the clock does; seconds below a minute.
 */
export function span(ms: number): string {
  const clamped = Math.max(0, ms);
  return formatDuration(clamped >= MINUTE_MS ? Math.floor(clamped / MINUTE_MS) * MINUTE_MS : clamped);
}

export function ago(at: string, now: number): string {
  const elapsed = now - Date.parse(at);
  return elapsed < 1000 ? 'just now' : `${span(elapsed)} ago`;
}

/** "access until 14:32 (59m)" for a live grant; "access ended 14:32" once past. */
export function accessUntil(view: RequestView, now: number): string {
  if (!view.expiresAt) return 'no access granted';
  const end = Date.parse(view.expiresAt);
  if (end <= now) return `access ended ${clockTime(end, now)}`;
  return `access until ${clockTime(end, now)} (${span(end - now)})`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Cuts long text for a table cell, on one line. */
export function cell(text: string | null, width = REASON_COLUMN_WIDTH): string {
  if (!text) return '-';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

export function stateLabel(state: RequestStateName, out: Output): string {
  const word = state.toUpperCase();
  switch (state) {
    case 'approved':
      return out.green(word);
    case 'pending':
      return out.yellow(word);
    case 'denied':
    case 'revoked':
    case 'timed_out':
      return out.red(word);
    default:
      return out.dim(word);
  }
}

/** Everyone who approved, in order: "bob@contoso.com and carol@contoso.com". */
export function approvers(view: RequestView): string {
  const names = view.reviews.filter((r) => r.decision === 'approve').map((r) => actorName(r.reviewer));
  if (names.length <= 1) return names[0] ?? 'nobody';
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
}

/** Who decided an approval: the approvers, or the policy for an auto-approved request. */
export function approvedBy(view: RequestView): string {
  // RequestView does not name the autoApprove group that matched, so the policy is named generically.
  return view.autoApproved ? 'policy (you are in an auto-approve group)' : approvers(view);
}

/** Approvals still missing, and from whom: "1 approval from sg-dba". */
export function stillNeeded(view: RequestView): string {
  const missing = Math.max(0, view.approvalsRequired - view.approvals);
  const from = view.approvers.length ? view.approvers.join(' or ') : 'an approver';
  return `${plural(missing, 'approval')} from ${from}`;
}

/** The denial's reason: the deny review's comment, else the close reason. */
function denialReason(view: RequestView): string | null {
  const deny = view.reviews.find((r) => r.decision === 'deny');
  return deny?.comment ?? view.closeReason;
}

/** The first line `access request` prints: what was asked and what happens next. */
export function pendingLine(view: RequestView): string {
  return `Request ${view.id} PENDING — waiting for ${stillNeeded(view)} (Ctrl-C leaves it pending)`;
}

/** What `access requests` shows in UNTIL/AGE for each state. */
export function untilOrAge(view: RequestView, now: number): string {
  if (view.state === 'pending') return `asked ${ago(view.createdAt, now)}, open until ${clockTime(Date.parse(view.pendingUntil), now)}`;
  if (view.state === 'approved') {
    const waiting = view.extensions?.find((e) => e.state === 'pending');
    const until = accessUntil(view, now).replace(/^access /, '');
    return waiting ? `${until}; +${span(waiting.durationMs)} asked` : until;
  }
  return view.closedAt ? `closed ${ago(view.closedAt, now)}` : '-';
}

export interface Outcome {
  /** The line for people (already coloured when `out` colours). */
  line: string;
  exit: ExitCode;
}

/**
 * What a request that left `pending` means for the person who asked, and the exit code
 * `access request` ends with: approved 0, denied 3, timed out 5, anything else 1.
 */
export function outcome(view: RequestView, now: number, out: Output): Outcome {
  const by = view.closedBy ? ` by ${actorName(view.closedBy)}` : '';
  const at = view.closedAt ? ` at ${clockTime(Date.parse(view.closedAt), now)}` : '';
  switch (view.state) {
    case 'approved':
      if (view.breakGlass) {
        return {
          line: `${out.yellow('⚠')} Break-glass access to ${view.resource} granted (${view.id}) — ${accessUntil(view, now)}. Every approver (${view.approvers.join(' or ') || 'of the resource'}) has been told and will post-review this use; your sessions are marked in the audit log`,
          exit: ExitCode.ok,
        };
      }
      return { line: `${out.green('✔')} Approved by ${approvedBy(view)} — ${accessUntil(view, now)}`, exit: ExitCode.ok };
    case 'denied': {
      const reason = denialReason(view);
      return { line: `${out.red('✖')} Denied${by}${reason ? `: ${reason}` : ''}`, exit: ExitCode.denied };
    }
    case 'timed_out':
      return {
        line: `${out.red('✖')} Request ${view.id} timed out${at} with ${view.approvals} of ${view.approvalsRequired} approvals — nobody from ${view.approvers.join(' or ') || 'the approvers'} decided in time; ask them directly, then request again`,
        exit: ExitCode.timedOut,
      };
    case 'cancelled':
      return { line: `${out.red('✖')} Request ${view.id} was cancelled${by}${at}`, exit: ExitCode.error };
    case 'expired':
      return {
        line: `${out.dim('•')} Request ${view.id} was approved by ${approvedBy(view)}; the grant has already ended (${accessUntil(view, now)})`,
        exit: ExitCode.error,
      };
    case 'revoked':
      return {
        line: `${out.red('✖')} Request ${view.id} was approved, then revoked${by}${at}${view.closeReason ? `: ${view.closeReason}` : ''}`,
        exit: ExitCode.error,
      };
    case 'pending':
      return { line: `Request ${view.id} is still pending — ${stillNeeded(view)}`, exit: ExitCode.ok };
  }
}

/** What an approver reads after approving or denying: the request's new position. */
export function reviewResult(view: RequestView, now: number, out: Output): string {
  const who = actorName(view.requester);
  // A review of a live grant is a review of its extension (the last one, or the one still pending).
  const extension = view.state === 'approved' ? (pendingExtension(view) ?? view.extensions?.at(-1) ?? null) : null;
  if (extension?.state === 'pending') {
    return `${out.green('✔')} Approved the extension of ${view.id} (${extension.approvals} of ${extension.approvalsRequired}) — still needs ${plural(extension.approvalsRequired - extension.approvals, 'approval')}`;
  }
  if (extension?.state === 'approved')
    return `${out.green('✔')} Extended ${view.id} by ${span(extension.durationMs)} — ${who} has ${view.resource} ${accessUntil(view, now).replace(/^access /, '')}`;
  if (extension?.state === 'denied')
    return `${out.red('✖')} Denied the extension of ${view.id} — ${who} keeps ${view.resource} ${accessUntil(view, now).replace(/^access /, '')}, no longer`;
  switch (view.state) {
    case 'approved':
      return `${out.green('✔')} Approved ${view.id} — ${who} has ${view.resource} ${accessUntil(view, now).replace(/^access /, '')}`;
    case 'pending':
      return `${out.green('✔')} Approved ${view.id} (${view.approvals} of ${view.approvalsRequired}) — still needs ${stillNeeded(view)}`;
    case 'denied':
      return `${out.red('✖')} Denied ${view.id} — ${who} does not get ${view.resource}`;
    default:
      return `Request ${view.id} is now ${view.state}`;
  }
}

/** A break-glass grant's post-review state: "waits for post-review", "acceptable (bob@…)". */
export function postReviewState(view: { breakGlass?: boolean; postReview?: RequestView['postReview'] }): string {
  if (!view.breakGlass) return '-';
  const review = view.postReview;
  if (!review) return 'waits for post-review';
  return `${review.verdict === 'acceptable' ? 'acceptable' : 'NOT acceptable'} (${actorName(review.reviewer)})`;
}

// ---- Extensions (`access extend`) ---------------------------------------------------------------

/** A duration as `--for` takes it: "1h30m" (formatDuration's words without spaces). */
export function durationFlag(ms: number): string {
  return formatDuration(ms).replace(/ /g, '');
}

/** The extension of a live grant that waits for a decision, if any. */
export function pendingExtension(view: RequestView): ExtensionView | null {
  return view.extensions?.find((e) => e.state === 'pending') ?? null;
}

/**
 * The exact command that asks for more time on a live grant, or null when its policy allows no
 * more: as long as the grant was first given, capped by what the policy still allows, in minutes.
 */
export function extendCommand(view: RequestView): string | null {
  const room = view.extendableMs ?? 0;
  const ms = Math.floor(Math.min(view.durationMs, room) / MINUTE_MS) * MINUTE_MS;
  return ms > 0 ? `access extend ${view.id} --for ${durationFlag(ms)}` : null;
}

/** Who decided an extension: its approvers, or the policy. */
export function extensionApprovedBy(extension: ExtensionView): string {
  if (extension.approvalsRequired === 0) return 'policy';
  const names = extension.reviews.filter((r) => r.decision === 'approve').map((r) => actorName(r.reviewer));
  return names.join(' and ') || 'nobody';
}

/** One line of a grant's extension history: "+30m approved by bob@… 14:02 — "reason"". */
export function extensionHistoryLine(extension: ExtensionView, now: number, out: Output): string {
  const when = clockTime(Date.parse(extension.decidedAt ?? extension.requestedAt), now);
  const why = extension.reason ? ` — ${cell(extension.reason)}` : '';
  switch (extension.state) {
    case 'approved':
      return `+${span(extension.durationMs)} ${out.green('approved')} by ${extensionApprovedBy(extension)} at ${when}${why}`;
    case 'denied': {
      const deny = extension.reviews.find((r) => r.decision === 'deny');
      return `+${span(extension.durationMs)} ${out.red('denied')}${deny ? ` by ${actorName(deny.reviewer)}: ${cell(deny.comment)}` : ''} at ${when}`;
    }
    case 'lapsed':
      return `+${span(extension.durationMs)} ${out.dim('lapsed')} (the grant ended first) at ${when}${why}`;
    case 'pending':
      return `+${span(extension.durationMs)} ${out.yellow('pending')} since ${when} — ${extension.approvals} of ${extension.approvalsRequired} approvals${why}`;
  }
}

/**
 * What the requester of an extension reads once it is decided, and the exit code of `access
 * extend`: approved 0, denied 3, lapsed 1 (pending: 0, for --no-wait).
 */
export function extensionOutcome(view: RequestView, extension: ExtensionView, now: number, out: Output): Outcome {
  switch (extension.state) {
    case 'approved':
      return {
        line: `${out.green('✔')} Extended ${view.id} by ${span(extension.durationMs)} (approved by ${extensionApprovedBy(extension)}) — ${accessUntil(view, now)}; open sessions keep running`,
        exit: ExitCode.ok,
      };
    case 'denied': {
      const deny = extension.reviews.find((r) => r.decision === 'deny');
      const why = deny?.comment ? `: ${deny.comment}` : '';
      return {
        line: `${out.red('✖')} Extension of ${view.id} denied${deny ? ` by ${actorName(deny.reviewer)}` : ''}${why} — the grant is unchanged (${accessUntil(view, now)})`,
        exit: ExitCode.denied,
      };
    }
    case 'lapsed':
      return { line: `${out.red('✖')} The extension of ${view.id} lapsed: the grant ended (${view.state}) before anyone decided`, exit: ExitCode.error };
    case 'pending':
      return {
        line: `Extension of ${view.id} (+${span(extension.durationMs)}) PENDING — waiting for ${plural(extension.approvalsRequired - extension.approvals, 'approval')} from ${view.approvers.join(' or ') || 'an approver'}`,
        exit: ExitCode.ok,
      };
  }
}

/** The API path of a request (and of an action on it); ids are opaque, so they are escaped. */
export function requestPath(id: string, action?: 'cancel' | 'review' | 'revoke' | 'extend'): string {
  return `/v1/requests/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;
}
