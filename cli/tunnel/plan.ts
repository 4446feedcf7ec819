// What the three ways of `access connect` (listener, `-- CMD`, `--stdio`) share once the grant is
// known: the tunnel's subject and grant, how to open one more tunnel, and a listener that stops
// accepting at the grant's end on our clock.

import type WebSocket from 'ws';
import type { RequestView } from '../../shared/wire.js';
import type { CliContext } from '../context.js';
import type { TunnelSubject } from './close-words.js';
import type { ConnectionDefaults } from './environment.js';
import { atTime } from './grant.js';
import { TunnelListener } from './listener.js';

export interface TunnelPlan {
  subject: TunnelSubject;
  grant: RequestView;
  defaults: ConnectionDefaults;
  /** Opens one more tunnel to the resource (paused); rejects with the broker's AccessError. */
  open: () => Promise<WebSocket>;
}

export interface Listening {
  listener: TunnelListener;
  /** Stops the grant's end timer (call once the listener is done). */
  stopTimer: () => void;
}

/** Listens for local connections, each with its own tunnel, until the grant ends or shutdown. */
export async function listenForGrant(
  ctx: CliContext,
  plan: TunnelPlan,
  where: { bind: string; port: number },
  logEveryConnection: boolean,
): Promise<Listening> {
  const listener = await TunnelListener.listen({
    ...where,
    open: plan.open,
    subject: plan.subject,
    log: (line) => ctx.out.notice(line),
    logEveryConnection,
    now: ctx.now,
  });
  const end = Date.parse(plan.grant.expiresAt ?? '');
  // The broker cuts every tunnel at the grant's end on its clock; here no new one is accepted.
  const stopTimer = Number.isNaN(end) ? () => undefined : atTime(end, ctx.now, () => listener.expire());
  return { listener, stopTimer };
}
