// App-only tokens (client credentials) for the broker's Graph app and for a workload signed in with
// `access login --service-principal`, with whichever credential is named: a client
// secret, a certificate (MSAL signs a client assertion), a federated token file (the assertion is
// the platform's JWT, re-read for every token because the platform rotates it), or an Azure
// managed identity (MSAL picks the source from the environment: App Service/Functions
// IDENTITY_ENDPOINT + IDENTITY_HEADER, …, else the VM's IMDS). All through unmodified MSAL over our
// transport.

import { readFile } from 'node:fs/promises';
import { ConfidentialClientApplication, LogLevel, ManagedIdentityApplication, type Configuration, type NodeSystemOptions } from '@azure/msal-node';
import { AccessError, type ErrorCode } from './errors.js';
import type { HttpTransport } from './http-transport.js';
import { msalNetworkModule } from './msal-network.js';
import { type FetchedToken, TokenReuse } from './token-reuse.js';

/**
 * How an app proves who it is, resolved before use (files read, environment looked up), so a wrong
 * path or a missing variable fails before the first token request. The broker's Graph app
 * (`graph.credential`) and a workload signing in with `access login --service-principal` alike.
 */
export type AppCredential =
  /** A client secret from the environment variable `env` (never written in a file). */
  | { kind: 'secret'; env: string; secret: string }
  /** A certificate registered on the app: MSAL signs a client assertion with its private key. */
  | { kind: 'certificate'; file: string; thumbprintSha256: string; privateKey: string; certificatePem: string }
  /** Workload identity federation: the JWT in `tokenFile` (re-read for every token) is the assertion. */
  | { kind: 'federated'; tokenFile: string }
  /** An Azure managed identity (App Service/Functions IDENTITY_ENDPOINT, else the VM's IMDS). */
  | { kind: 'managedIdentity' };

export interface AppIdentity {
  /** The app's client id; for a managed identity the user-assigned identity's, or null for the system-assigned one. */
  clientId: string | null;
  credential: AppCredential;
  /** MSAL authority of the tenant, e.g. https://login.microsoftonline.com/<tenant id> (unused by a managed identity). */
  authority: string;
  /** The authority is not a Microsoft cloud host (the dev tenant): skip cloud instance discovery. */
  customAuthority: boolean;
}

/** Gets an app-only access token for `scope` (`{resource}/.default`). */
export type AppTokenSource = (scope: string) => Promise<string>;

/** A secret credential, for callers that hold a secret rather than a config (the dev tenant's own apps). */
export function secretCredential(secret: string): AppCredential {
  return { kind: 'secret', env: '', secret };
}

/** What the credential is, for messages: never the secret or the key. */
export function describeCredential(identity: Pick<AppIdentity, 'clientId' | 'credential'>): string {
  const { credential } = identity;
  switch (credential.kind) {
    case 'secret':
      return credential.env ? `client secret from $${credential.env}` : 'client secret';
    case 'certificate':
      return `certificate ${credential.file} (SHA-256 thumbprint ${credential.thumbprintSha256})`;
    case 'federated':
      return `federated token file ${credential.tokenFile}`;
    case 'managedIdentity':
      return identity.clientId ? `user-assigned managed identity ${identity.clientId}` : 'system-assigned managed identity';
  }
}

/**
 * `failure`: the code of a failed token request (the broker's Graph app: directory_unavailable; a
 * workload's sign-in: sign_in_failed). A token is reused per scope as TokenReuse allows (it is the
 * one MSAL's cache would hand out again).
 */
export function appTokenSource(identity: AppIdentity, transport: HttpTransport, failure: ErrorCode = 'directory_unavailable'): AppTokenSource {
  const system: NodeSystemOptions = {
    networkClient: msalNetworkModule(transport),
    loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined },
  };
  const who = identity.clientId ? `app ${identity.clientId}` : 'the managed identity';
  const acquire = acquirer(identity, system);
  return reusedPerScope(async (scope) => {
    let token: FetchedToken | null;
    try {
      token = await acquire(scope);
    } catch (error) {
      throw new AccessError(
        failure,
        `cannot get a token for ${scope} as ${who} (${describeCredential(identity)}): ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        { cause: error },
      );
    }
    if (!token?.token) throw new AccessError(failure, `the tenant gave no token for ${scope} to ${who}`);
    return token;
  });
}

/** An AppTokenSource that fetches through `fetch` only when TokenReuse holds no fresh token for the scope. */
export function reusedPerScope(fetch: (scope: string) => Promise<FetchedToken>, now: () => number = Date.now): AppTokenSource {
  const perScope = new Map<string, TokenReuse>();
  return (scope) => {
    let reuse = perScope.get(scope);
    if (!reuse) {
      reuse = new TokenReuse(() => fetch(scope), now);
      perScope.set(scope, reuse);
    }
    return reuse.get();
  };
}

/** MSAL's answer as a FetchedToken; without an expiry (MSAL always gives one) it is never reused. */
function fetched(result: { accessToken: string; expiresOn: Date | null } | null): FetchedToken | null {
  return result ? { token: result.accessToken, expiresAt: result.expiresOn?.getTime() ?? 0 } : null;
}

function acquirer(identity: AppIdentity, system: NodeSystemOptions): (scope: string) => Promise<FetchedToken | null> {
  const { credential } = identity;
  if (credential.kind === 'managedIdentity') {
    const msal = new ManagedIdentityApplication({
      ...(identity.clientId ? { managedIdentityIdParams: { userAssignedClientId: identity.clientId } } : {}),
      system,
    });
    // Managed identity endpoints take a resource, not a scope.
    return async (scope) => fetched(await msal.acquireToken({ resource: scope.replace(/\/\.default$/, '') }));
  }
  if (identity.clientId === null) throw new AccessError('config_invalid', `a ${credential.kind} credential needs the Graph app's client id`);
  const auth: Configuration['auth'] = {
    clientId: identity.clientId,
    authority: identity.authority,
    ...(identity.customAuthority ? { knownAuthorities: [new URL(identity.authority).host] } : {}),
  };
  switch (credential.kind) {
    case 'secret':
      auth.clientSecret = credential.secret;
      break;
    case 'certificate':
      auth.clientCertificate = {
        thumbprintSha256: credential.thumbprintSha256,
        privateKey: credential.privateKey,
        x5c: credential.certificatePem,
      };
      break;
    case 'federated': {
      const { tokenFile } = credential;
      // Re-read on every token request: AKS and GitHub Actions replace the file before it expires.
      auth.clientAssertion = async () => (await readFile(tokenFile, 'utf8')).trim();
      break;
    }
  }
  const msal = new ConfidentialClientApplication({ auth, system });
  return async (scope) => fetched(await msal.acquireTokenByClientCredential({ scopes: [scope] }));
}
