// The broker's configuration after parsing and validation (see broker/config/load.ts for the YAML
// form). Durations are milliseconds; group references are Entra group object ids (lower case), or
// under `access-broker dev` also display names of the dev tenant's groups (config/group-refs.ts).

import type { AppCredential } from '../../shared/app-token.js';
import type { Cloud } from '../identity/clouds.js';

import type { CallerLimits } from '../../shared/limits.js';
import type { SignInMethod } from '../../shared/wire.js';
import type { ResourceConditions } from '../policy/conditions.js';
import type { NetworkList } from '../policy/networks.js';

export type ResourceKind = 'postgres' | 'mysql' | 'ssh' | 'tcp' | 'http' | 'grpc';

/**
 * How the broker talks to a postgres target (libpq's sslmode words): `disable` plain TCP;
 * `require` TLS without checking the certificate (encrypts, does not authenticate the server);
 * `verify-full` TLS with the certificate checked against `targetCa` (or the system's roots) and
 * the target's host name.
 */
export type TargetTlsMode = 'disable' | 'require' | 'verify-full';

/** The CA a `verify-full` target's certificate must chain to, read from the config's `targetCa` at start. */
export interface TargetCa {
  /** The file as resolved (relative paths are relative to the config file), for messages. */
  file: string;
  /** Its PEM text. */
  pem: string;
}

/**
 * A database login the broker holds for a postgres/mysql resource (`credentials:`, config/database-credentials.ts):
 * the broker logs in with it and the client never sees the password.
 */
export interface DatabaseCredential {
  /** The database user the broker logs in as. */
  user: string;
  /**
   * The password, read at start. Non-enumerable (config/database-credentials.ts databaseCredential):
   * JSON, util.inspect and spreads leave it out. Never logged, audited or put in a message.
   */
  readonly password: string;
  /** Where the password came from, for messages: `$ENV_NAME` or the file's resolved path. Never the secret. */
  source: string;
  /** Group references (like `requesters`) whose members get this login; empty: everyone. */
  groups: string[];
}

export interface ResourcePolicy {
  name: string;
  kind: ResourceKind;
  description: string | null;
  /** host:port the broker dials for a tunnel. */
  target: { host: string; port: number };
  requesters: string[];
  approvers: string[];
  /** Distinct approvers needed. */
  approvals: number;
  maxDurationMs: number;
  defaultDurationMs: number;
  /** A pending request expires (timed_out) after this long. */
  requestTtlMs: number;
  reason: 'optional' | 'required';
  /** Source of a RegExp a ticket id must match, when tickets are required. */
  ticketPattern: string | null;
  /** Groups whose requests are approved by policy. */
  autoApprove: string[];
  /** Tunnels open at once to this resource, all users together. Default 20. */
  maxConnections: number;
  /** A tunnel with no bytes either way for this long is closed. Default 30 minutes. */
  idleTimeoutMs: number;
  /** postgres/mysql only: the database a client connects to unless told otherwise (PGDATABASE). */
  database: string | null;
  /** postgres/mysql only: the database user a client connects as unless told otherwise (PGUSER). */
  user: string | null;
  /** postgres only: TLS from the broker to the database. Default disable. */
  targetTls: TargetTlsMode;
  /** postgres `verify-full` only: the CA to trust instead of the system's roots; null: the system's roots. */
  targetCa: TargetCa | null;
  /** `breakGlass:` — who may take access at once in an emergency, and for how long; absent: nobody. */
  breakGlass?: BreakGlassPolicy;
  /** `extend:` — how a live grant may be extended (`access extend`); absent: it may not. */
  extend?: ExtendPolicy;
  /**
   * postgres/mysql only: the logins the broker itself uses (credential injection), in order; the
   * first whose groups the requester is in wins (tunnel/database-credential.ts). Empty: the client
   * logs in with its own user and password, relayed untouched.
   */
  credentials: DatabaseCredential[];
  /**
   * http and grpc only: the Host header (grpc: :authority) the target sees (tunnel/http/headers.ts): absent or `target` the
   * target's host:port, `client` what the client sent, or a literal name (a virtual host).
   */
  hostHeader?: string | null;
  /**
   * Names of the config's groups by lower-case object id, for messages and listings only (never
   * matching): the config's labels, and under serve the tenant's names read at start.
   */
  groupNames?: Readonly<Record<string, string>>;
  /** Client ids (lower case) of the workloads (service principals) that may request and use this resource. */
  workloads: string[];
  /** Those of `workloads` whose requests are approved by policy; the others wait for an approver. */
  autoApproveWorkloads: string[];
  /**
   * What the caller's token and connection must show (MFA, authentication context, sign-in age,
   * source network, time window), at request, approval, tunnel open and every re-check. Absent: none.
   */
  conditions?: ResourceConditions;
}

/**
 * How a live grant of a resource may be extended. `maxTotalMs` caps the grant's whole length,
 * from its grantedAt to its expiresAt after every extension. `autoApproveWithinMs`: extensions are
 * approved by policy while the time added by all the grant's approved extensions, this one
 * included, stays within it (`approval: { none-within: 1h }`); beyond it, and always when null
 * (`approval: required`), an extension needs the resource's `approvals` from its approvers.
 */
export interface ExtendPolicy {
  maxTotalMs: number;
  autoApproveWithinMs: number | null;
}

/**
 * Break-glass on a resource: members of `groups` may take a grant at once, without approval, for
 * at most `maxDurationMs`, always with a reason. Every approver is told, and the grant waits for a
 * post-review (acceptable / not acceptable) by one of them.
 */
export interface BreakGlassPolicy {
  groups: string[];
  maxDurationMs: number;
}

/** What a notification is about (README, "Notifications"). */
export type NoticeKind = 'new_request' | 'decision' | 'break_glass' | 'extension_request' | 'expiring' | 'revoke';

/**
 * Where the broker posts notifications. `url` and `secret` are resolved at start from the
 * environment or a file (never written in the config): a Slack or Teams webhook URL is itself the
 * secret that lets anyone post.
 */
export interface NotificationDestination {
  /** Unique among destinations: how logs and the outbox name it. */
  name: string;
  kind: 'slack' | 'teams' | 'webhook';
  url: string;
  /** `webhook` only: the HMAC-SHA256 key of X-Access-Signature. */
  secret: string | null;
  /** The notices this destination gets. */
  events: NoticeKind[];
}

export interface NotificationsConfig {
  destinations: NotificationDestination[];
  /** Delay before the first retry of a failed delivery; each retry doubles it, with jitter. */
  firstRetryMs: number;
  /** Longest delay between two tries. */
  maxRetryMs: number;
  /** Tries before a notification is given up (logged as an error). */
  maxAttempts: number;
}

/** Identity settings for a real Entra tenant (absent under `access-broker dev`, which makes its own). */
export interface TenantConfig {
  tenantId: string;
  /** The Entra cloud instance (tenant.cloud): sign-in host, accepted issuers, Graph. Default public. */
  cloud: Cloud;
  /** The CLI's public client application id. */
  cliClientId: string;
  /** Accepted `aud` values: the API's App ID URI and/or its client id. */
  audiences: string[];
  /** Scope the CLI requests, e.g. api://access-broker/user_impersonation */
  cliScope: string;
  /** `scp` value a user token must carry. Default user_impersonation */
  requiredScope: string;
  /** `roles` value an app (service principal) token must carry. Default Access.Automation */
  requiredAppRole: string;
  /** Client ids of the automation apps whose app tokens are accepted (tenant.automationApps). Default none. */
  automationClientIds: string[];
  /**
   * The sign-in `access login` uses without a flag (tenant.signIn): `browser` where Conditional Access
   * blocks device code. Default device-code.
   */
  signIn: SignInMethod;
  graph: {
    /** The Graph app's client id; for a managed identity, the user-assigned identity's client id or null (system-assigned). */
    clientId: string | null;
    /** How the broker proves it is that app (see GraphCredential). */
    credential: GraphCredential;
    /** Default https://graph.microsoft.com */
    baseUrl: string;
  };
}

/** How the broker authenticates as its Graph app, resolved at start (shared/app-token.ts AppCredential). */
export type GraphCredential = AppCredential;

/** A user of the embedded dev tenant. */
export interface DevUser {
  upn: string;
  name: string;
  /** Group names the user is a direct member of. */
  groups: string[];
  /**
   * The user has a second factor registered: when a sign-in asks for MFA or an authentication
   * context (a claims challenge), their token shows it (`amr` mfa, `acrs`). Default false: such a
   * sign-in is refused on the sign-in page.
   */
  mfa?: boolean;
}

/** A group of the embedded dev tenant; `memberOf` nests it inside other groups (transitivity). */
export interface DevGroup {
  /** Unique within the dev directory: how the config refers to the group. */
  name: string;
  /**
   * What Graph shows as the group's displayName; default `name`. Entra display names are not unique,
   * so this may repeat another group's (tests of the same-name attack use it).
   */
  displayName?: string;
  memberOf: string[];
  /** False makes it a Microsoft 365 group (not a security group), as doctor must notice. Default true. */
  securityEnabled?: boolean;
}

/** How the dev tenant signs people in (`access-broker dev` flags, or the devTenant section of its config). */
export interface DevSignInSettings {
  /** The sign-in `access login` uses without a flag. Default DEFAULT_SIGN_IN_METHOD. */
  signIn?: SignInMethod;
  /** Block device code sign-in as Conditional Access does (AADSTS53003). */
  blockDeviceCode: boolean;
}

export interface DevDirectory {
  users: DevUser[];
  groups: DevGroup[];
}

export interface BrokerConfig {
  /** Path of the file this came from, or "(built-in demo)". */
  source: string;
  tenant: TenantConfig | null;
  resources: ResourcePolicy[];
  auditors: string[];
  admins: string[];
  /** Seconds a user's group membership read from Graph is trusted. Default 60. */
  groupCacheSeconds: number;
  /**
   * Seconds between fresh Graph reads of the membership of users with open tunnels; a user removed
   * from a resource's requester groups loses their tunnels within this. Default 30.
   */
  membershipRecheckSeconds: number;
  /**
   * Seconds a live tunnel outlives the last confirmation of its user's membership while Graph cannot
   * answer; then it is cut (membershipUnconfirmed). Default 120.
   */
  membershipGraceSeconds: number;
  /**
   * Names written beside group ids (`{ id, name }`), by lower-case object id: shown to people next to
   * the id, and compared with the tenant's names at start. Never used for matching.
   */
  groupLabels?: Readonly<Record<string, string>>;
  /** Longest total wait for Graph's Retry-After answers in one call before failing closed (graphRetryBudget). Default 10 s. */
  graphRetryBudgetMs?: number;
  /** Only read by `access-broker dev --config`: the dev tenant's users and groups. */
  devDirectory: DevDirectory | null;
  /** Only read by `access-broker dev --config`: the dev tenant's sign-in settings (devTenant.signIn, devTenant.blockDeviceCode). */
  devSignIn?: DevSignInSettings;
  /** The forward-auth endpoint (broker/forward-auth/); absent: the defaults. */
  forwardAuth?: { auditWindowMs: number };
  /**
   * Mutual TLS (tls.clientCa): every /v1 call and tunnel must present a client certificate issued by
   * this CA, besides its Entra token. Needs the broker to serve TLS (--tls-cert/--tls-key). Absent: none asked.
   */
  tls?: { clientCa: TargetCa };
  /** Per-caller limits that differ from the defaults (shared/limits.ts); absent: the defaults. */
  limits?: Partial<CallerLimits>;
  /**
   * The reverse proxies in front of the broker (trustedProxies): only when the direct peer is one of
   * them is X-Forwarded-For read for the client address (policy/networks.ts). Absent: none, the peer is the client.
   */
  trustedProxies?: NetworkList;
  /** `notifications:` — Teams, Slack and signed webhook destinations; absent: none. */
  notifications?: NotificationsConfig;
  /**
   * `store:` — the PostgreSQL database several brokers share (postgres://USER@HOST:PORT/DATABASE,
   * config/store-url.ts). ACCESS_DATABASE_URL wins over it. Absent: SQLite in the data directory.
   */
  store?: string;
}
