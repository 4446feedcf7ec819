// What `access-broker doctor` found out about the tenant, as plain values: gather.ts fetches them
// (the only part that talks to the network), checks.ts judges them (pure).

/** The outcome of one read: its value, or why it failed (HTTP status and the service's error code when there was an answer). */
export type Fetched<T> = { ok: true; value: T } | { ok: false; status: number | null; code: string | null; message: string };

export interface DiscoveryFacts {
  issuer: string;
  jwksUri: string;
}

export interface GroupFacts {
  id: string;
  displayName: string | null;
  securityEnabled: boolean;
  /** Transitive member count, or the read that failed (counts need ConsistencyLevel: eventual). */
  members: Fetched<number>;
}

export interface ApplicationFacts {
  appId: string;
  displayName: string;
  isFallbackPublicClient: boolean | null;
  identifierUris: string[];
  requestedAccessTokenVersion: number | null;
  scopes: Array<{ value: string; isEnabled: boolean }>;
  appRoles: Array<{ value: string; isEnabled: boolean; allowedMemberTypes: string[] }>;
}

export interface DoctorFacts {
  authority: string;
  discovery: Fetched<DiscoveryFacts>;
  /** Null when discovery failed (no JWKS address to try). */
  jwks: Fetched<{ keys: number }> | null;
  /** The Graph app-only token's granted application permissions (`roles`), or why there is no token. */
  graphToken: Fetched<{ roles: string[] }>;
  /** Each configured group id, read through Graph; empty when there is no Graph token. */
  groups: Array<{ id: string; read: Fetched<GroupFacts | null> }>;
  /** The API app (found by client id or App ID URI among tenant.audiences); null read value: no such app. Null when not read (no token). */
  apiApp: Fetched<ApplicationFacts | null> | null;
  cliApp: Fetched<ApplicationFacts | null> | null;
}
