// `access connect NAME [--port N] [--bind ADDR]`: listens until Ctrl-C or the grant's end, and says
// where to connect. Exit: 0 on Ctrl-C or at the grant's expiry, 3 when it is revoked or the
// membership is lost; a final refusal (no live grant any more, signed out) ends with its own code.

import { ExitCode } from '../../shared/errors.js';
import { isLoopbackHost } from '../../shared/http-transport.js';
import type { CliContext } from '../context.js';
import { accessUntil } from '../request-format.js';
import { closeWords, grantEndingExit } from './close-words.js';
import { connectHint, hostPort, type LocalAddress, localTlsHint } from './environment.js';
import type { ListenerEnd } from './listener.js';
import { listenForGrant, type TunnelPlan } from './plan.js';

/** "Tunnel to demo-db (postgres) on 127.0.0.1:54321 — access until 14:32 (59m)". */
export function tunnelLine(plan: TunnelPlan, address: LocalAddress, now: number): string {
  return `Tunnel to ${plan.subject.name} (${plan.subject.kind}) on ${hostPort(address)} — ${accessUntil(plan.grant, now)}`;
}

/** What the listener's end means: the words to print (if any) and the exit code. */
export function listenerOutcome(end: ListenerEnd, plan: TunnelPlan, now: number): { words: string | null; exit: number } {
  switch (end.kind) {
    case 'grant':
      return { words: `Tunnel to ${plan.subject.name} closed: ${closeWords(end.close, plan.subject, now)}`, exit: grantEndingExit(end.close) ?? ExitCode.ok };
    case 'refused':
      return { words: `Tunnel to ${plan.subject.name} closed: ${end.error.message}`, exit: end.error.exitCode };
    case 'stopped':
      return { words: null, exit: ExitCode.ok };
  }
}

export async function runListener(ctx: CliContext, plan: TunnelPlan, where: { bind: string; port: number }): Promise<number> {
  const { listener, localTls, stopTimer } = await listenForGrant(ctx, plan, where, true);
  const stopListening = ctx.onInterrupt(() => void listener.shutdown());
  try {
    ctx.out.line(`${tunnelLine(plan, listener.address, ctx.now())}. Ctrl-C to close.`);
    ctx.out.line(`Connect with: ${connectHint(plan.subject.kind, listener.address, plan.defaults)}`);
    if (localTls) ctx.out.line(localTlsHint(plan.subject.kind, localTls.caFile));
    if (!isLoopbackHost(where.bind)) {
      ctx.out.notice(`warning: listening on ${where.bind}: anyone who can reach this machine can use your access to ${plan.subject.name}`);
    }
    const end = await listener.ended;
    const { words, exit } = listenerOutcome(end, plan, ctx.now());
    if (words) ctx.out.line(words);
    return exit;
  } finally {
    stopTimer();
    stopListening();
    await listener.shutdown();
  }
}
