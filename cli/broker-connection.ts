// Opening a signed-in connection to the broker: which broker (flag, env, remembered), how to sign
// in to its tenant (remembered at login, else asked of the broker), and a client that attaches a
// silently refreshed token to every call. Every connection to the broker (REST, events, tunnels)
// trusts the same certificates: `trust` (cli/broker-trust.ts).

import type WebSocket from 'ws';
import type { BrokerConfigResponse } from '../shared/wire.js';
import { Session, transportFor } from './auth/session.js';
import { BrokerClient } from './broker-client.js';
import { BrokerTrust, resolveBrokerTrust } from './broker-trust.js';
import type { CliContext } from './context.js';
import { eventsUrl, openEventStream, type EventStream } from './events-client.js';
import { readSettings, resolveBrokerUrl } from './settings.js';
import { openTunnel, tunnelUrl } from './tunnel/tunnel-client.js';

export interface BrokerConnection {
  brokerUrl: string;
  session: Session;
  client: BrokerClient;
  /**
   * The certificates this CLI accepts from the broker (public roots + a private CA, if named): use
   * `trust.tlsOptions()` for any WebSocket/TLS connection to it and `trust.explain()` for its failures.
   */
  trust: BrokerTrust;
  /** Opens the broker's events stream (WebSocket) as this user; resolves once subscribed. */
  openEvents(): Promise<EventStream>;
  /**
   * Opens one tunnel to `resource` (a WebSocket with a fresh token); resolves, paused, once the
   * broker has dialled the target; rejects with the broker's refusal (no_live_grant, …).
   */
  openTunnel(resource: string): Promise<WebSocket>;
}

export async function fetchSignInConfig(brokerUrl: string, trust: BrokerTrust = BrokerTrust.publicRoots()): Promise<BrokerConfigResponse> {
  return new BrokerClient(brokerUrl, trust.transport(), null, trust).get<BrokerConfigResponse>('/v1/config');
}

export function debugLogger(ctx: CliContext): ((line: string) => void) | undefined {
  return ctx.env.ACCESS_DEBUG === '1' ? (line) => ctx.out.notice(line) : undefined;
}

export async function connectBroker(ctx: CliContext, brokerFlag: string | undefined): Promise<BrokerConnection> {
  const settings = await readSettings(ctx.home);
  const brokerUrl = resolveBrokerUrl(brokerFlag, ctx.env, settings);
  const trust = await resolveBrokerTrust({ env: ctx.env, settings, brokerUrl });
  const signIn = settings.broker === brokerUrl && settings.signIn ? settings.signIn : await fetchSignInConfig(brokerUrl, trust);
  const debug = debugLogger(ctx);
  const session = await Session.open({
    home: ctx.home,
    env: ctx.env,
    brokerUrl,
    signIn,
    transport: transportFor(brokerUrl, signIn, trust.extraCa),
    trust,
    ...(debug ? { debug } : {}),
  });
  const client = new BrokerClient(brokerUrl, trust.transport(), () => session.accessToken(), trust);
  const openEvents = (): Promise<EventStream> =>
    openEventStream({ url: eventsUrl(brokerUrl), token: () => session.accessToken(), trust, ...(debug ? { debug } : {}) });
  const openTunnelTo = (resource: string): Promise<WebSocket> =>
    openTunnel({ url: tunnelUrl(brokerUrl, resource), token: () => session.accessToken(), trust });
  return { brokerUrl, session, client, trust, openEvents, openTunnel: openTunnelTo };
}
