// `access extend ID --for 30m [--reason TEXT] [--no-wait] [--json]`: more time on a live grant of
// yours. Approved by policy at once (extend.approval none-within), or pending for the resource's
// approvers: then it waits for the decision, pushed over the events stream like `access request`.
// Open sessions keep running with the new end; nothing reconnects. Exit codes: extended 0, denied
// 3, lapsed (the grant ended first) 1, Ctrl-C 130 (the extension stays pending).

import { parseDuration } from '../../shared/duration.js';
import { AccessError, ExitCode } from '../../shared/errors.js';
import type { ExtendBody, ExtensionView, RequestView } from '../../shared/wire.js';
import type { CliContext } from '../context.js';
import type { EventStream } from '../events-client.js';
import { extensionOutcome, requestPath } from '../request-format.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options, args) => {
  const id = args[0] ?? '';
  const duration = stringOption(options, 'for');
  if (duration === undefined) throw new AccessError('usage', `say how much longer with --for, e.g. \`access extend ${id || 'ID'} --for 30m\``);
  if (parseDuration(duration) === undefined) throw new AccessError('usage', `--for "${duration}" is not a duration — use e.g. 30m, 1h, 1h30m`);
  const reason = stringOption(options, 'reason');
  const body: ExtendBody = { duration, ...(reason ? { reason } : {}) };
  const json = Boolean(options.json);
  const say = (line: string): void => (json ? ctx.out.notice(line) : ctx.out.line(line));
  const connection = await ctx.connect(stringOption(options, 'broker'));
  const wait = options.wait !== false;
  // Opened before asking, so no decision can slip between the two.
  const events = wait ? await connection.openEvents() : null;
  try {
    let view = await connection.client.post<RequestView>(
      requestPath(id, 'extend'),
      body,
      `the extension of ${id} may or may not have been asked for — \`access requests\` shows the grant and its end`,
    );
    let extension = lastExtension(view);
    say(extensionOutcome(ctx.out.forPeople(view), ctx.out.forPeople(extension), ctx.now(), ctx.out).line);
    if (extension.state === 'pending' && events) {
      const waited = await waitForDecision(ctx, connection.client, events, view, extension.seq);
      if (waited === null) {
        say(`Still pending: \`access requests\` shows the grant; the extension lapses if nobody decides before it ends`);
        if (json) ctx.out.json(view);
        return ExitCode.interrupted;
      }
      view = waited;
      extension = extensionOf(view, extension.seq);
      say(extensionOutcome(ctx.out.forPeople(view), ctx.out.forPeople(extension), ctx.now(), ctx.out).line);
    }
    if (json) ctx.out.json(view);
    return extension.state === 'pending' ? ExitCode.ok : extensionOutcome(view, extension, ctx.now(), ctx.out).exit;
  } finally {
    events?.close();
  }
};

function lastExtension(view: RequestView): ExtensionView {
  const extension = view.extensions?.at(-1);
  if (extension) return extension;
  throw new AccessError('broker_response_invalid', `the broker answered the extension of ${view.id} without it — is it older than \`access extend\`?`);
}

function extensionOf(view: RequestView, seq: number): ExtensionView {
  return view.extensions?.find((e) => e.seq === seq) ?? lastExtension(view);
}

/** Follows the events stream until extension `seq` is decided; null on Ctrl-C. */
async function waitForDecision(
  ctx: CliContext,
  client: { get<T>(path: string): Promise<T> },
  events: EventStream,
  asked: RequestView,
  seq: number,
): Promise<RequestView | null> {
  let interrupted = false;
  const stopListening = ctx.onInterrupt(() => {
    interrupted = true;
    events.close();
  });
  const spinner = ctx.out.spinner('waiting for the extension to be decided…');
  try {
    for await (const item of events) {
      let next: RequestView | null = null;
      if (item.type === 'request' && item.request.id === asked.id) next = item.request;
      // Events sent while the stream was down are not replayed: read the grant once.
      if (item.type === 'reconnected') next = await client.get<RequestView>(requestPath(asked.id));
      if (next && extensionOf(next, seq).state !== 'pending') return next;
    }
  } finally {
    spinner.stop();
    stopListening();
  }
  if (interrupted) return null;
  throw new AccessError('broker_unreachable', `the events stream ended while the extension of ${asked.id} was pending — \`access requests\` shows the grant`);
}
