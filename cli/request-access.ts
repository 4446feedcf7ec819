// Asking for access and waiting for the decision, which the broker pushes over the events stream
// the moment it is made. `access request` and `access connect --request` both run this.
//
// The events stream is opened BEFORE the request is created, so no decision can slip between the
// two. Exit codes: approved 0, denied 3, timed out 5, cancelled elsewhere 1, Ctrl-C 130 (the
// request stays pending).

import { AccessError, ExitCode, type ErrorCode } from '../shared/errors.js';
import type { CreateRequestBody, RequestView } from '../shared/wire.js';
import type { BrokerClient } from './broker-client.js';
import type { BrokerConnection } from './broker-connection.js';
import type { CliContext } from './context.js';
import type { EventStream, StreamItem } from './events-client.js';
import { actorName, outcome, pendingLine, requestPath, span, stillNeeded } from './request-format.js';
import type { Spinner } from './spinner.js';

/** Policy refusals a person at a terminal can answer on the spot; each field is asked at most once. */
const ASKABLE: Partial<Record<ErrorCode, { field: 'reason' | 'ticket'; question: (resource: string) => string; instead: string }>> = {
  reason_required: { field: 'reason', question: (r) => `Reason for accessing ${r}:`, instead: 'pass --reason TEXT' },
  ticket_required: { field: 'ticket', question: (r) => `Ticket for ${r}:`, instead: 'pass --ticket ID' },
  ticket_invalid: { field: 'ticket', question: (r) => `Ticket for ${r} (see the pattern above):`, instead: 'pass --ticket ID' },
};

/** POSTs the request; on a terminal, asks for a missing reason or ticket and tries again. */
export async function createRequest(ctx: CliContext, client: BrokerClient, first: CreateRequestBody): Promise<RequestView> {
  let body = first;
  const asked = new Set<string>();
  for (;;) {
    try {
      return await client.post<RequestView>(
        '/v1/requests',
        body,
        `the request for ${body.resource} may or may not have been made — \`access requests\` lists it if it was`,
      );
    } catch (error) {
      if (!(error instanceof AccessError)) throw error;
      const askable = ASKABLE[error.code];
      // Without a terminal the broker's own refusal is the answer (a usage error, exit 2).
      if (!askable || !ctx.prompts.interactive || asked.has(askable.field)) throw error;
      asked.add(askable.field);
      ctx.out.notice(ctx.out.forPeople(error.message));
      const answer = await ctx.prompts.text({ message: askable.question(body.resource), instead: askable.instead, required: true });
      body = { ...body, [askable.field]: answer };
    }
  }
}

function waitingText(view: RequestView): string {
  return `waiting for ${stillNeeded(view)}…`;
}

/** A partial approval: "  approved by alice@… (1 of 2) — still waiting for 1 approval from sg-dba". */
function progressLine(view: RequestView): string {
  const last = view.reviews.filter((r) => r.decision === 'approve').at(-1);
  const by = last ? ` by ${actorName(last.reviewer)}` : '';
  return `  approved${by} (${view.approvals} of ${view.approvalsRequired}) — still waiting for ${stillNeeded(view)}`;
}

interface WaitResult {
  view: RequestView;
  interrupted: boolean;
}

/**
 * Follows the events stream until the request leaves `pending` or the person presses Ctrl-C.
 * After a reconnect it GETs the request once, since events sent during the gap are not replayed.
 */
async function waitForDecision(
  ctx: CliContext,
  client: BrokerClient,
  events: EventStream,
  created: RequestView,
  say: (line: string) => void,
): Promise<WaitResult> {
  let view = created;
  let interrupted = false;
  const stopListening = ctx.onInterrupt(() => {
    interrupted = true;
    events.close();
  });
  let spinner: Spinner = ctx.out.spinner(waitingText(view));
  const show = (line: string): void => {
    spinner.stop();
    say(line);
    spinner = ctx.out.spinner(waitingText(view));
  };
  try {
    for await (const item of events) {
      const next = await latest(client, view, item);
      if (item.type === 'disconnected') spinner.update(`lost the broker (${item.reason}) — reconnecting in ${span(item.retryInMs)}…`);
      if (!next) continue;
      const progressed = next.approvals > view.approvals;
      view = next;
      if (view.state !== 'pending') return { view, interrupted: false };
      if (progressed) show(progressLine(ctx.out.forPeople(view)));
      else spinner.update(waitingText(view));
    }
  } finally {
    spinner.stop();
    stopListening();
  }
  if (interrupted) return { view, interrupted };
  throw new AccessError('broker_unreachable', `the events stream ended while request ${view.id} was pending — \`access requests\` shows its state`);
}

/** The newer view of our request that `item` brings, if any. */
async function latest(client: BrokerClient, view: RequestView, item: StreamItem): Promise<RequestView | null> {
  switch (item.type) {
    case 'request':
    case 'expiring':
      return item.request.id === view.id ? item.request : null;
    case 'reconnected':
      return client.get<RequestView>(requestPath(view.id));
    default:
      return null;
  }
}

export interface RequestResult {
  /** The request as last seen (approved, denied, … or still pending after Ctrl-C). */
  view: RequestView;
  /** approved 0, denied 3, timed out 5, cancelled elsewhere 1, Ctrl-C 130. */
  exit: ExitCode;
}

/**
 * Asks for access and waits for the decision, saying each step through `say`: the pending line,
 * partial approvals, and the outcome (or how to find the request again after Ctrl-C). The events
 * stream is opened before the request is created, so no decision can slip between the two.
 * `access request` and `access connect --request` both run this.
 */
export async function requestAccess(
  ctx: CliContext,
  connection: Pick<BrokerConnection, 'client' | 'openEvents'>,
  body: CreateRequestBody,
  say: (line: string) => void,
): Promise<RequestResult> {
  const { client } = connection;
  const events = await connection.openEvents();
  try {
    let final = await createRequest(ctx, client, body);
    if (final.state === 'pending') {
      say(pendingLine(ctx.out.forPeople(final)));
      const waited = await waitForDecision(ctx, client, events, final, say);
      if (waited.interrupted) {
        say(`Still pending: access requests (or access cancel ${ctx.out.forPeople(final.id)})`);
        return { view: waited.view, exit: ExitCode.interrupted };
      }
      final = waited.view;
    }
    const result = outcome(ctx.out.forPeople(final), ctx.now(), ctx.out);
    say(result.line);
    return { view: final, exit: result.exit };
  } finally {
    events.close();
  }
}
