// What the broker tells people outside the terminal, as plain values: one Notice per change that
// matters (new request, decision, break-glass, extension request, expiring grant, revoke), with the
// exact command that acts on it. Pure: formats.ts turns a Notice into Slack, Teams or webhook JSON.

import { formatDuration } from '../../shared/duration.js';
import type { RequestView } from '../../shared/wire.js';
import type { NoticeKind } from '../config/types.js';
import type { RequestChange } from '../requests/types.js';

export interface Notice {
  kind: NoticeKind;
  /** The request change (or `expiring`) it comes from. */
  change: RequestChange | 'expiring';
  /** One short line: what happened. Plain text; may hold names from the directory and the config. */
  title: string;
  /** The sentence with who, what and until when. Plain text. */
  text: string;
  /** Free text someone typed (reason, denial or revoke reason), shown as such; null when none. */
  reason: string | null;
  /** The exact command that acts on it (`access approve ID`), or null. */
  command: string | null;
  /** ms since epoch. */
  at: number;
  /** The request as the API shows it (the generic webhook's `request`). */
  request: RequestView;
}

function who(view: RequestView): string {
  return view.requester.upn ?? view.requester.oid;
}

function until(view: RequestView): string {
  return view.expiresAt ? `until ${view.expiresAt.replace('T', ' ').slice(0, 16)} UTC` : '';
}

/** A duration as `--for` takes it. */
function flag(ms: number): string {
  return formatDuration(ms).replace(/ /g, '');
}

/** The notices one committed change makes (none for most changes). */
export function noticesFor(view: RequestView, changes: readonly RequestChange[], at: number): Notice[] {
  const notices: Notice[] = [];
  const base = { at, request: view };
  for (const change of changes) {
    switch (change) {
      case 'created':
        if (view.state !== 'pending') break;
        notices.push({
          ...base,
          kind: 'new_request',
          change,
          title: `New request for ${view.resource}`,
          text: `${who(view)} asks for ${view.resource} for ${formatDuration(view.durationMs)} (request ${view.id}, ${view.approvalsRequired} approval${view.approvalsRequired === 1 ? '' : 's'} needed).`,
          reason: view.reason,
          command: `access approve ${view.id}`,
        });
        break;
      case 'approved':
      case 'denied': {
        const deciders = view.reviews.filter((r) => r.decision === (change === 'approved' ? 'approve' : 'deny')).map((r) => r.reviewer.upn ?? r.reviewer.oid);
        notices.push({
          ...base,
          kind: 'decision',
          change,
          title: `Request ${view.id} ${change}`,
          text:
            change === 'approved'
              ? `${who(view)} has ${view.resource} ${until(view)}, approved by ${deciders.join(', ')}.`
              : `${who(view)} does not get ${view.resource}: denied by ${deciders.join(', ')}.`,
          reason: change === 'denied' ? view.closeReason : null,
          command: null,
        });
        break;
      }
      case 'break_glass':
        notices.push({
          ...base,
          kind: 'break_glass',
          change,
          title: `BREAK-GLASS access to ${view.resource}`,
          text: `${who(view)} took ${view.resource} without approval for ${formatDuration(view.durationMs)}, ${until(view)} (grant ${view.id}). An approver must post-review it.`,
          reason: view.reason,
          command: `access review ${view.id} --verdict acceptable|not-acceptable --comment "…"`,
        });
        break;
      case 'extension_requested': {
        const extension = view.extensions?.at(-1);
        if (extension?.state !== 'pending') break;
        notices.push({
          ...base,
          kind: 'extension_request',
          change,
          title: `Extension request for ${view.resource}`,
          text: `${who(view)} asks to extend grant ${view.id} on ${view.resource} by ${formatDuration(extension.durationMs)} (now ${until(view)}).`,
          reason: extension.reason,
          command: `access approve ${view.id}`,
        });
        break;
      }
      case 'revoked':
        notices.push({
          ...base,
          kind: 'revoke',
          change,
          title: `Grant ${view.id} revoked`,
          text: `${who(view)} no longer has ${view.resource}: revoked by ${view.closedBy ? (view.closedBy.upn ?? view.closedBy.oid) : 'the broker'}.`,
          reason: view.closeReason,
          command: null,
        });
        break;
      default:
        break;
    }
  }
  return notices;
}

/** The warning shortly before a grant ends, with the command that extends it when the policy allows. */
export function expiringNotice(view: RequestView, inMs: number, at: number): Notice {
  const room = Math.min(view.durationMs, view.extendableMs ?? 0);
  const minutes = Math.floor(room / 60_000) * 60_000;
  return {
    kind: 'expiring',
    change: 'expiring',
    title: `Access to ${view.resource} ends soon`,
    text: `${who(view)}'s access to ${view.resource} (grant ${view.id}) ends in ${formatDuration(inMs)}, ${until(view)}.`,
    reason: null,
    command: minutes > 0 ? `access extend ${view.id} --for ${flag(minutes)}` : null,
    at,
    request: view,
  };
}
