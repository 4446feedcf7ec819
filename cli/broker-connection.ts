// Opening a signed-in connection to the broker: which broker (flag, env, remembered), how to sign
// in to its tenant (remembered at login, else asked of the broker), and a client that attaches a
// silently refreshed token to every call. Every connection to the broker (REST, events, tunnels)
// trusts the same certificates: `trust` (cli/broker-trust.ts).
//
// It takes only what it needs (`ConnectInputs`), not the CliContext, so the context can build on
// it without the two importing each other. MSAL (the session) and ws (events, tunnels) are imported
// when first needed, not with the CLI: they are most of its start time, and `access --help` or a
// command refused before sign-in needs neither.

import type WebSocket from 'ws';
import type { BrokerConfigResponse } from '../shared/wire.js';
import type { Session } from './auth/session.js';
import type { WorkloadSession } from './auth/workload.js';
import { BrokerClient } from './broker-client.js';
import { BrokerTrust, resolveBrokerTrust } from './broker-trust.js';
import type { EventStream } from './events-client.js';
import { readSettings, resolveBrokerUrl } from './settings.js';

export interface BrokerConnection {
  brokerUrl: string;
  /** A person's MSAL session, or a workload's client credentials (`access login --service-principal`). */
  session: Session | WorkloadSession;
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

/** What opening a connection reads from the CLI's context. */
export interface ConnectInputs {
  /** The CLI's state dir ($ACCESS_HOME). */
  home: string;
  env: NodeJS.ProcessEnv;
  /** Where the sign-in and events streams narrate what they do (ACCESS_DEBUG=1), if anywhere. */
  debug?: ((line: string) => void) | undefined;
}

export async function connectBroker(inputs: ConnectInputs, brokerFlag: string | undefined): Promise<BrokerConnection> {
  const { home, env, debug } = inputs;
  const settings = await readSettings(home);
  const brokerUrl = resolveBrokerUrl(brokerFlag, env, settings);
  const trust = await resolveBrokerTrust({ env, settings, brokerUrl });
  const signIn = settings.broker === brokerUrl && settings.signIn ? settings.signIn : await fetchSignInConfig(brokerUrl, trust);
  const { Session, transportFor, servesOwnTenant } = await import('./auth/session.js');
  const transport = transportFor(brokerUrl, signIn, trust.extraCa);
  const workload = settings.broker === brokerUrl ? settings.workload : undefined;
  const session = workload
    ? new (await import('./auth/workload.js')).WorkloadSession(workload, signIn, transport, {
        env,
        now: Date.now(),
        customAuthority: servesOwnTenant(brokerUrl, signIn),
      })
    : await Session.open({ home, env, brokerUrl, signIn, transport, trust, ...(debug ? { debug } : {}) });
  const client = new BrokerClient(brokerUrl, trust.transport(), () => session.accessToken(), trust);
  const openEvents = async (): Promise<EventStream> => {
    const { eventsUrl, openEventStream } = await import('./events-client.js');
    return openEventStream({ url: eventsUrl(brokerUrl), token: () => session.accessToken(), trust, ...(debug ? { debug } : {}) });
  };
  const openTunnelTo = async (resource: string): Promise<WebSocket> => {
    const { openTunnel, tunnelUrl } = await import('./tunnel/tunnel-client.js');
    return openTunnel({ url: tunnelUrl(brokerUrl, resource), token: () => session.accessToken(), trust });
  };
  return { brokerUrl, session, client, trust, openEvents, openTunnel: openTunnelTo };
}
