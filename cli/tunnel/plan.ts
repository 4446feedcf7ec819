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
import { type LocalTls, loadLocalTls } from './local-tls.js';

/** The resource kinds whose clients may ask the listener for TLS (local-tls.ts, mysql-local-end.ts). */
const LOCAL_TLS_KINDS: ReadonlySet<string> = new Set(['postgres', 'mysql']);

export interface TunnelPlan {
  subject: TunnelSubject;
  grant: RequestView;
  defaults: ConnectionDefaults;
  /** Opens one more tunnel to the resource (paused); rejects with the broker's AccessError. */
  open: () => Promise<WebSocket>;
}

export interface Listening {
  listener: TunnelListener;
  /** Postgres and MySQL: the local TLS clients may ask for (its CA file is what verify-full / --ssl-verify-server-cert trusts); else null. */
  localTls: LocalTls | null;
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
  const localTls = LOCAL_TLS_KINDS.has(plan.subject.kind) ? await localTlsFor(ctx) : null;
  const listener = await TunnelListener.listen({
    ...where,
    localTls,
    open: plan.open,
    subject: plan.subject,
    log: (line) => ctx.out.notice(line),
    logEveryConnection,
    now: ctx.now,
  });
  const end = Date.parse(plan.grant.expiresAt ?? '');
  // The broker cuts every tunnel at the grant's end on its clock; here no new one is accepted.
  const stopTimer = Number.isNaN(end) ? () => undefined : atTime(end, ctx.now, () => listener.expire());
  return { listener, localTls, stopTimer };
}

/** The state dir's local certificate; a state dir it cannot be kept in is said, not fatal: clients that need no TLS still connect. */
async function localTlsFor(ctx: CliContext): Promise<LocalTls | null> {
  try {
    return await loadLocalTls(ctx.home, ctx.now());
  } catch (error) {
    ctx.out.notice(
      `warning: no local TLS for clients that require it: ${error instanceof Error ? error.message : String(error)} — check that ${ctx.home} is writable`,
    );
    return null;
  }
}
