// The dev tenant's application objects, as Graph's `/applications` shows and changes them: what a
// real admin sets in the Entra admin center or with `az ad app update` — "Allow public client
// flows" (isFallbackPublicClient), the API's scope and app role and the token version it accepts,
// certificates (keyCredentials) and federated identity credentials. The token endpoint reads the
// credentials from here; `access-broker doctor` reads the rest through Graph. Changes live in
// memory only (like live membership changes): a restarted dev tenant starts from its defaults.

import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { API_SCOPE_NAME, AUTOMATION_ROLE, type AppRegistration, type AppRegistry, type Resource } from './apps.js';

/** The only audience Entra accepts in a federated credential (one value, as Graph requires). */
export const FEDERATION_AUDIENCE = 'api://AzureADTokenExchange';
/** Entra's limit on federated identity credentials per application. */
export const MAX_FEDERATED_CREDENTIALS = 20;

export interface PermissionScope {
  id: string;
  value: string;
  type: 'User' | 'Admin';
  isEnabled: boolean;
  adminConsentDisplayName: string;
  adminConsentDescription: string;
}

export interface AppRole {
  id: string;
  value: string;
  allowedMemberTypes: string[];
  isEnabled: boolean;
  displayName: string;
  description: string;
}

export interface FederatedCredential {
  id: string;
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
}

/** A registered certificate: Graph's keyCredential plus the parsed certificate the token endpoint checks against. */
export interface RegisteredCertificate {
  keyId: string;
  displayName: string;
  certificate: X509Certificate;
  /** Hex SHA-1 and SHA-256 thumbprints of the DER certificate, as MSAL's `x5t` / `x5t#S256` headers name it. */
  sha1: string;
  sha256: string;
}

export interface ApplicationObject {
  readonly id: string;
  readonly appId: string;
  readonly displayName: string;
  isFallbackPublicClient: boolean;
  identifierUris: string[];
  requestedAccessTokenVersion: number | null;
  oauth2PermissionScopes: PermissionScope[];
  appRoles: AppRole[];
  certificates: RegisteredCertificate[];
  federatedCredentials: FederatedCredential[];
  /** Graph application permissions consented for the app's service principal. */
  graphRoles: string[];
}

export class Applications {
  readonly #objects: ApplicationObject[];

  constructor(apps: AppRegistry) {
    const registrations = [apps.cli, apps.api, apps.graph, apps.automation, apps.directoryAdmin];
    this.#objects = registrations.map((app) => defaults(app, app === apps.api ? apps.apiAppIdUri : null));
  }

  list(): readonly ApplicationObject[] {
    return this.#objects;
  }

  /** By application object id, or by appId (Graph's `applications(appId='…')`). */
  find(id: string): ApplicationObject | undefined {
    const key = id.toLowerCase();
    return this.#objects.find((o) => o.id === key || o.appId === key);
  }

  /** The application permissions an app-only token for `resource` carries. */
  grantedRoles(app: AppRegistration, resource: Resource): readonly string[] {
    return resource === 'graph' ? (this.find(app.clientId)?.graphRoles ?? []) : app.appRoles.api;
  }

  /** The registered certificate an assertion's `x5t#S256` (or legacy `x5t`) header names, base64url of the thumbprint. */
  certificate(appId: string, thumbprints: { x5tS256?: string | undefined; x5t?: string | undefined }): RegisteredCertificate | undefined {
    const hex = (b64: string | undefined): string | null => (b64 ? Buffer.from(b64, 'base64url').toString('hex') : null);
    const sha256 = hex(thumbprints.x5tS256);
    const sha1 = hex(thumbprints.x5t);
    return this.find(appId)?.certificates.find((c) => c.sha256 === sha256 || c.sha1 === sha1);
  }
}

export function registerCertificate(derBase64: string, displayName: string): RegisteredCertificate {
  const der = Buffer.from(derBase64, 'base64');
  const certificate = new X509Certificate(der);
  return {
    keyId: randomUUID(),
    displayName,
    certificate,
    sha1: createHash('sha1').update(der).digest('hex'),
    sha256: createHash('sha256').update(der).digest('hex'),
  };
}

/** A stable application object id per client id (the dev tenant persists client ids, not application objects). */
function objectIdOf(clientId: string): string {
  const hex = createHash('sha256').update(`application:${clientId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function defaults(app: AppRegistration, appIdUri: string | null): ApplicationObject {
  const isApi = appIdUri !== null;
  return {
    id: objectIdOf(app.clientId),
    appId: app.clientId,
    displayName: app.displayName,
    isFallbackPublicClient: app.publicClient,
    identifierUris: isApi ? [appIdUri] : [],
    // The dev tenant issues v2 tokens for the API, as an API app set to accept v2 gets.
    requestedAccessTokenVersion: isApi ? 2 : null,
    oauth2PermissionScopes: isApi
      ? [
          {
            id: objectIdOf(`${app.clientId}/${API_SCOPE_NAME}`),
            value: API_SCOPE_NAME,
            type: 'User',
            isEnabled: true,
            adminConsentDisplayName: 'Use the access broker',
            adminConsentDescription: 'Request, approve and use just-in-time access as the signed-in user.',
          },
        ]
      : [],
    appRoles: isApi
      ? [
          {
            id: objectIdOf(`${app.clientId}/${AUTOMATION_ROLE}`),
            value: AUTOMATION_ROLE,
            allowedMemberTypes: ['Application'],
            isEnabled: true,
            displayName: 'Access automation',
            description: 'Call the access broker as an application.',
          },
        ]
      : [],
    certificates: [],
    federatedCredentials: [],
    graphRoles: [...app.appRoles.graph],
  };
}

/** The application as Graph's JSON (certificates as keyCredentials without the key, as Graph lists them). */
export function applicationJson(o: ApplicationObject): Record<string, unknown> {
  return {
    id: o.id,
    appId: o.appId,
    displayName: o.displayName,
    signInAudience: 'AzureADMyOrg',
    isFallbackPublicClient: o.isFallbackPublicClient,
    identifierUris: o.identifierUris,
    api: {
      requestedAccessTokenVersion: o.requestedAccessTokenVersion,
      oauth2PermissionScopes: o.oauth2PermissionScopes,
      preAuthorizedApplications: [],
    },
    appRoles: o.appRoles,
    keyCredentials: o.certificates.map((c) => ({
      keyId: c.keyId,
      displayName: c.displayName,
      type: 'AsymmetricX509Cert',
      usage: 'Verify',
      customKeyIdentifier: c.sha1.toUpperCase(),
      startDateTime: new Date(c.certificate.validFrom).toISOString(),
      endDateTime: new Date(c.certificate.validTo).toISOString(),
      key: null,
    })),
    passwordCredentials: [],
  };
}
