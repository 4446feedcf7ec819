// Opening a signed-in connection to the broker: which broker (flag, env, remembered), how to sign
// in to its tenant (remembered at login, else asked of the broker), and a client that attaches a
// silently refreshed token to every call.

import type { BrokerConfigResponse } from '../shared/wire.js';
import { HttpTransport } from '../shared/http-transport.js';
import { Session, transportFor } from './auth/session.js';
import { BrokerClient } from './broker-client.js';
import type { CliContext } from './context.js';
import { eventsUrl, openEventStream, type EventStream } from './events-client.js';
import { readSettings, resolveBrokerUrl } from './settings.js';

export interface BrokerConnection {
  brokerUrl: string;
  session: Session;
  client: BrokerClient;
  /** Opens the broker's events stream (WebSocket) as this user; resolves once subscribed. */
  openEvents(): Promise<EventStream>;
}

export async function fetchSignInConfig(brokerUrl: string): Promise<BrokerConfigResponse> {
  return new BrokerClient(brokerUrl, new HttpTransport()).get<BrokerConfigResponse>('/v1/config');
}

export function debugLogger(ctx: CliContext): ((line: string) => void) | undefined {
  return ctx.env.ACCESS_DEBUG === '1' ? (line) => ctx.out.notice(line) : undefined;
}

export async function connectBroker(ctx: CliContext, brokerFlag: string | undefined): Promise<BrokerConnection> {
  const settings = await readSettings(ctx.home);
  const brokerUrl = resolveBrokerUrl(brokerFlag, ctx.env, settings);
  const signIn = settings.broker === brokerUrl && settings.signIn ? settings.signIn : await fetchSignInConfig(brokerUrl);
  const transport = transportFor(brokerUrl, signIn);
  const debug = debugLogger(ctx);
  const session = await Session.open({ home: ctx.home, env: ctx.env, signIn, transport, ...(debug ? { debug } : {}) });
  const client = new BrokerClient(brokerUrl, transport, () => session.accessToken());
  const openEvents = (): Promise<EventStream> =>
    openEventStream({ url: eventsUrl(brokerUrl), token: () => session.accessToken(), ...(debug ? { debug } : {}) });
  return { brokerUrl, session, client, openEvents };
}
