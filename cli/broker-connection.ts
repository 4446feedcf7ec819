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
import { AccessError } from '../shared/errors.js';
import { DEFAULT_SIGN_IN_METHOD, type BrokerConfigResponse, type SignInMethod } from '../shared/wire.js';
import type { SignInTerminal } from './auth/sign-in.js';
import type { Session } from './auth/session.js';
import type { WorkloadSession } from './auth/workload.js';
import { BrokerClient, isClaimsChallenge, type StepUp } from './broker-client.js';
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
  /**
   * Where a step-up sign-in talks to the person (stderr): what the broker asked for and the device
   * code instructions. Without it a claims challenge is not answered: the refusal is the error.
   */
  notice?: ((line: string) => void) | undefined;
}

export async function connectBroker(inputs: ConnectInputs, brokerFlag: string | undefined): Promise<BrokerConnection> {
  const { home, env, debug } = inputs;
  const settings = await readSettings(home);
  const brokerUrl = resolveBrokerUrl(brokerFlag, env, settings);
  const trust = await resolveBrokerTrust({ env, settings, brokerUrl });
  const signIn = settings.broker === brokerUrl && settings.signIn ? settings.signIn : await fetchSignInConfig(brokerUrl, trust);
  const { Session, transportFor, isCustomAuthority } = await import('./auth/session.js');
  const transport = transportFor(brokerUrl, signIn, trust.extraCa);
  const workload = settings.broker === brokerUrl ? settings.workload : undefined;
  const session = workload
    ? new (await import('./auth/workload.js')).WorkloadSession(workload, signIn, transport, {
        env,
        now: Date.now(),
        customAuthority: isCustomAuthority(brokerUrl, signIn),
      })
    : await Session.open({ home, env, brokerUrl, signIn, transport, trust, ...(debug ? { debug } : {}) });
  const terminal = inputs.notice ? { env, notice: inputs.notice, interactive: Boolean(process.stderr.isTTY), platform: process.platform } : null;
  // A workload cannot sign in again interactively: a claims challenge stays its refusal.
  const stepUp = terminal && session instanceof Session ? stepUpSignIn(session, terminal, signIn.signIn ?? DEFAULT_SIGN_IN_METHOD) : null;
  const client = new BrokerClient(brokerUrl, trust.transport(), () => session.accessToken(), trust, stepUp);
  const openEvents = async (): Promise<EventStream> => {
    const { eventsUrl, openEventStream } = await import('./events-client.js');
    return openEventStream({ url: eventsUrl(brokerUrl), token: () => session.accessToken(), trust, ...(debug ? { debug } : {}) });
  };
  // A listener opens a tunnel per local connection, hundreds a second: the module and the URL are
  // worked out once per resource (a dynamic import and a URL build were 3 % of its CPU per connection).
  let tunnels: { resource: string; open: Promise<() => Promise<WebSocket>> } | null = null;
  const tunnelOpener = (resource: string): Promise<() => Promise<WebSocket>> => {
    if (tunnels?.resource !== resource) {
      const open = import('./tunnel/tunnel-client.js').then(({ openTunnel, tunnelUrl }) => {
        const options = { url: tunnelUrl(brokerUrl, resource), token: () => session.accessToken(), trust };
        return () => openTunnel(options);
      });
      tunnels = { resource, open };
    }
    return tunnels.open;
  };
  const openTunnelTo = async (resource: string): Promise<WebSocket> => {
    const open = await tunnelOpener(resource);
    try {
      return await open();
    } catch (error) {
      if (!stepUp || !isClaimsChallenge(error)) throw error;
      await stepUp(error);
      return open();
    }
  };
  return { brokerUrl, session, client, trust, openEvents, openTunnel: openTunnelTo };
}

/**
 * Answers a claims challenge: says what the broker asked for, signs in again the tenant's way
 * (device code or browser) passing the claims (MSAL `claims`), and says when it is done. Calls that
 * meet the challenge at the same time (several tunnel connections) share one sign-in.
 */
function stepUpSignIn(session: Session, terminal: SignInTerminal, method: SignInMethod): StepUp {
  const { notice } = terminal;
  let running: Promise<void> | null = null;
  return (refusal) => {
    running ??= (async () => {
      notice(`The broker asks for a stronger sign-in: ${refusal.message}`);
      notice('Signing in again with what it asks for (a claims challenge)…');
      let account;
      try {
        const { signInAtTerminal } = await import('./auth/sign-in.js');
        account = await signInAtTerminal(terminal, session, { method, claims: refusal.claims });
      } catch (error) {
        // MSAL keeps only the OAuth error of a refused sign-in (post_request_failed — invalid_grant);
        // the sign-in page told the person why. Say what the sign-in was for and what helps.
        if (!(error instanceof AccessError) || error.code !== 'sign_in_failed') throw error;
        throw new AccessError(
          'sign_in_failed',
          `the stronger sign-in did not complete (${error.message}). ${refusal.message} ` +
            'If the sign-in page refused you for lack of a second factor, register one (or ask an admin), then try again.',
          { cause: error },
        );
      }
      notice(`Signed in again as ${account.username}; retrying once.`);
    })().finally(() => {
      running = null;
    });
    return running;
  };
}
