// `access watch [--json]`: a live feed of what concerns you — new requests you can review,
// decisions on your requests, grants about to end — one line each, until Ctrl-C. Survives broker
// restarts and network drops (the stream reconnects; events during the gap are not replayed).

import { ExitCode } from '../../shared/errors.js';
import type { EventMessage, RequestView } from '../../shared/wire.js';
import type { Output } from '../output.js';
import { catchUp, rememberOpen, WatchMemory } from '../watch-catch-up.js';
import {
  accessUntil,
  actorName,
  approvers,
  cell,
  clockTime,
  extendCommand,
  extensionApprovedBy,
  extensionOutcome,
  outcome,
  postReviewState,
  span,
  stillNeeded,
  timeOfDay,
} from '../request-format.js';

/** Changes that concern a grant's extension rather than the request itself. */
const EXTENSION_CHANGES: ReadonlySet<string> = new Set([
  'extension_requested',
  'extension_review_recorded',
  'extended',
  'extension_denied',
  'extension_lapsed',
]);

/** An extension change, for the requester (mine) or an approver (theirs). */
function extensionLine(change: string, view: RequestView, mine: boolean, now: number, out: Output): string | null {
  const extension = view.extensions?.at(-1);
  if (!extension) return null;
  if (mine) return `Your grant ${view.id} for ${view.resource}: ${extensionOutcome(view, extension, now, out).line}`;
  const head = `${view.id} ${actorName(view.requester)} → ${view.resource}`;
  switch (change) {
    case 'extension_requested': {
      const why = extension.reason ? ` — "${cell(extension.reason)}"` : '';
      return `${out.yellow('Extension request')} ${head} +${span(extension.durationMs)} (${accessUntil(view, now)})${why} · access approve ${view.id} / access deny ${view.id} --reason …`;
    }
    case 'extension_review_recorded':
      return `${head}: extension ${extension.approvals} of ${extension.approvalsRequired} approvals`;
    case 'extended':
      return `${head}: extended by ${span(extension.durationMs)} (${extensionApprovedBy(extension)}) — ${accessUntil(view, now)}`;
    case 'extension_denied':
      return `${head}: extension denied — grant unchanged, ${accessUntil(view, now)}`;
    default:
      return `${head}: extension lapsed with the grant`;
  }
}
import { stringOption, type CommandRun } from './command.js';

/** A change to one of your own requests. */
function mine(change: string, view: RequestView, now: number, out: Output): string {
  const head = `Your request ${view.id} for ${view.resource}`;
  if (view.state !== 'pending') return `${head}: ${outcome(view, now, out).line}`;
  if (change === 'review_recorded')
    return `${head}: approved by ${approvers(view)} (${view.approvals} of ${view.approvalsRequired}), waiting for ${stillNeeded(view)}`;
  return `${head} (${span(view.durationMs)}) is pending — waiting for ${stillNeeded(view)}`;
}

/** A change to someone else's request on a resource you may approve. */
function theirs(change: string, view: RequestView, now: number, out: Output): string {
  const who = actorName(view.requester);
  const head = `${view.id} ${who} → ${view.resource}`;
  switch (view.state) {
    case 'pending':
      if (change === 'created') {
        const why = view.reason ? ` — "${cell(view.reason)}"` : '';
        return `${out.yellow('New request')} ${head} for ${span(view.durationMs)}${why} · access approve ${view.id} / access deny ${view.id} --reason …`;
      }
      return `${head}: ${view.approvals} of ${view.approvalsRequired} approvals (${approvers(view)})`;
    case 'approved':
      return `${head}: approved by ${view.autoApproved ? 'policy' : approvers(view)} — ${accessUntil(view, now)}`;
    case 'denied':
    case 'cancelled':
    case 'revoked':
      return `${head}: ${view.state}${view.closedBy ? ` by ${actorName(view.closedBy)}` : ''}${view.closeReason ? ` — ${cell(view.closeReason)}` : ''}`;
    case 'timed_out':
      return `${head}: timed out unanswered`;
    case 'expired':
      return `${head}: grant ended`;
  }
}

/** A break-glass grant taken, or its post-review recorded. */
function breakGlassLine(change: string, view: RequestView, mine: boolean, now: number, out: Output): string {
  if (change === 'post_reviewed') return `${view.id} ${actorName(view.requester)} → ${view.resource}: break-glass post-review ${postReviewState(view)}`;
  if (mine) return `Your break-glass grant ${view.id} for ${view.resource}: ${accessUntil(view, now)}; every approver was told`;
  const why = view.reason ? ` — "${cell(view.reason)}"` : '';
  return `${out.red('Break-glass')} ${view.id} ${actorName(view.requester)} → ${view.resource} for ${span(view.durationMs)}, ${accessUntil(view, now)}${why} · post-review it: access review`;
}

/** The feed line for one event, or null for an event that is not news (hello). */
export function describeEvent(event: EventMessage, me: string | null, now: number, out: Output): string | null {
  switch (event.type) {
    case 'hello':
      return null;
    case 'expiring': {
      const end = event.request.expiresAt ? clockTime(Date.parse(event.request.expiresAt), now) : 'soon';
      // The exact command when the policy allows more time on this grant; else a new request.
      const more = extendCommand(event.request) ?? `access request ${event.request.resource}`;
      return `${out.yellow('Ending')} your access to ${event.request.resource} (${event.request.id}) ends at ${end} (in ${span(event.inMs)}) — \`${more}\` for more time`;
    }
    case 'request':
      if (event.change === 'break_glass' || event.change === 'post_reviewed')
        return breakGlassLine(event.change, event.request, event.request.requester.oid === me, now, out);
      if (EXTENSION_CHANGES.has(event.change)) return extensionLine(event.change, event.request, event.request.requester.oid === me, now, out);
      return event.request.requester.oid === me ? mine(event.change, event.request, now, out) : theirs(event.change, event.request, now, out);
  }
}

export const run: CommandRun = async (ctx, options) => {
  const json = Boolean(options.json);
  const { client, openEvents } = await ctx.connect(stringOption(options, 'broker'));
  const events = await openEvents();
  // Ctrl-C is how a feed ends: stop cleanly and exit 0.
  const stopListening = ctx.onInterrupt(() => events.close());
  const memory = new WatchMemory();
  let me: string | null = null;
  const show = (event: EventMessage, now: number, missed: boolean): void => {
    if (json) {
      ctx.out.jsonLine({ receivedAt: new Date(now).toISOString(), ...(missed ? { missed } : {}), ...event });
      return;
    }
    const line = describeEvent(ctx.out.forPeople(event), me, now, ctx.out);
    if (line) ctx.out.line(`${ctx.out.dim(timeOfDay(now))}  ${missed ? 'while disconnected: ' : ''}${line}`);
  };
  try {
    for await (const item of events) {
      const now = ctx.now();
      switch (item.type) {
        case 'hello':
          if (me !== null) continue;
          ctx.out.notice(`Watching as ${ctx.out.forPeople(item.upn ?? item.oid)} — Ctrl-C stops`);
          me = item.oid;
          await rememberOpen(client, memory).catch((error: unknown) => {
            ctx.out.notice(
              `could not read your open requests (${ctx.out.forPeople(messageOf(error))}): a change made while the stream is down may go unreported`,
            );
          });
          continue;
        case 'disconnected':
          ctx.out.notice(`${timeOfDay(now)}  lost the broker (${ctx.out.forPeople(item.reason)}) — reconnecting in ${span(item.retryInMs)}`);
          continue;
        case 'reconnected': {
          // Events sent during the gap are not replayed: read the state once and show what changed.
          const missed = await catchUp(client, memory, me ?? '').catch((error: unknown) => {
            ctx.out.notice(
              `${timeOfDay(now)}  reconnected, but could not read what changed meanwhile (${ctx.out.forPeople(messageOf(error))}) — \`access approvals\` and \`access requests\` show the current state`,
            );
            return null;
          });
          if (missed === null) continue;
          ctx.out.notice(`${timeOfDay(now)}  reconnected — ${missed.length === 0 ? 'nothing changed' : `${missed.length} change(s)`} while disconnected`);
          for (const event of missed) show(event, now, true);
          continue;
        }
        default:
          if (item.type === 'request') memory.see(item.request);
          show(item, now, false);
      }
    }
  } finally {
    stopListening();
    events.close();
  }
  return ExitCode.ok;
};

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
