// Types that travel between the CLI and the broker over HTTP. The broker produces them, the CLI
// consumes them; both import them from here so the contract is written once.

/** `GET /v1/config` — everything a CLI needs to sign in, learned from the broker URL alone. */
/** How the CLI signs a person in: Entra's device code flow, or the browser (authorization code + PKCE, loopback redirect). */
export const SIGN_IN_METHODS = ['device-code', 'browser'] as const;
export type SignInMethod = (typeof SIGN_IN_METHODS)[number];
/** The sign-in `access login` uses when the broker names none (DESIGN.md: device code stays the default). */
export const DEFAULT_SIGN_IN_METHOD: SignInMethod = 'device-code';

export interface BrokerConfigResponse {
  /** Entra tenant id (GUID). */
  tenantId: string;
  /** MSAL authority, e.g. `https://login.microsoftonline.com/<tenant id>`. */
  authority: string;
  /** The CLI's public client application id. */
  clientId: string;
  /** Scopes the CLI asks for, e.g. `api://access-broker/user_impersonation`. */
  scopes: string[];
  /**
   * Present only when the broker serves the embedded dev tenant itself on loopback HTTP: the
   * https origin MSAL is given (it refuses http authorities) and that the CLI reaches over plain
   * HTTP. The CLI accepts it only when it is the loopback origin of the broker it was pointed at.
   */
  devTenant?: { origin: string };
  /**
   * Present when the broker's config writes the tenant's cloud out host by host (`tenant.cloud`
   * with an authorityHost): MSAL knows only Microsoft's own sign-in hosts and would ask Microsoft's
   * instance discovery about any other, which knows nothing of it. The CLI then names the authority's
   * host as known, trusting the broker for it exactly as it already does for `authority` itself.
   */
  customCloud?: true;
  /**
   * The tenant's preferred sign-in (`tenant.signIn` in the broker's config): `access login` uses it
   * unless told otherwise. Absent from older brokers: DEFAULT_SIGN_IN_METHOD.
   */
  signIn?: SignInMethod;
  brokerVersion: string;
}

export interface GroupRef {
  id: string;
  displayName: string;
}

/** `GET /v1/whoami` — who the broker sees behind the caller's token. */
export interface WhoAmIResponse {
  kind: 'user' | 'app';
  oid: string;
  /** preferred_username (display only; the key is always `oid`). */
  upn: string | null;
  name: string | null;
  tenantId: string;
  /** Transitive group membership as read from Microsoft Graph, never from the token alone. */
  groups: GroupRef[];
  /** Whether the token carried a group overage marker instead of a `groups` claim. */
  groupOverage: boolean;
  /** ISO time at which the presented access token expires. */
  tokenExpiresAt: string;
  isAuditor: boolean;
  isAdmin: boolean;
}

/** One entry of `GET /v1/resources`: a resource the caller may request or approve. */
export interface ResourceSummary {
  name: string;
  kind: string;
  description: string | null;
  canRequest: boolean;
  canApprove: boolean;
  /** Whether a request by the caller is approved by policy (auto-approve group). */
  autoApproved: boolean;
  /** Whether the caller may take break-glass access (`access request NAME --break-glass`); absent from older brokers. */
  canBreakGlass?: boolean;
  /** The longest break-glass grant; null when the resource has none. */
  breakGlassMaxDurationMs?: number | null;
  /** extend.maxTotal: how long a grant may last with extensions; null when it may not be extended. */
  extendMaxTotalMs?: number | null;
  /** Approver groups as people read them: "name (object id)" where the broker knows the name, else as the policy names them. */
  approvers: string[];
  approvals: number;
  maxDurationMs: number;
  defaultDurationMs: number;
  reason: 'optional' | 'required';
  ticketPattern: string | null;
  /** postgres/mysql: the database a client connects to unless told otherwise (e.g. PGDATABASE); null when not configured. */
  database: string | null;
  /** postgres/mysql: the database user a client connects as unless told otherwise (e.g. PGUSER); null when not configured. */
  user: string | null;
  /**
   * The resource's conditions in words (README, "Conditions"), e.g. "multi-factor sign-in",
   * "from 10.0.0.0/8", "Mon-Fri 07:00-19:00 Europe/Berlin"; empty when it has none.
   */
  conditions: string[];
}

export interface ResourcesResponse {
  resources: ResourceSummary[];
}

// ---- Requests and approvals -------------------------------------------------------------------

export type RequestStateName = 'pending' | 'approved' | 'denied' | 'cancelled' | 'timed_out' | 'expired' | 'revoked';

export interface ActorView {
  oid: string;
  upn: string | null;
}

export interface ReviewView {
  reviewer: ActorView;
  decision: 'approve' | 'deny';
  comment: string | null;
  at: string;
}

/** A request as the API shows it. Times are ISO strings; durations milliseconds. */
export interface RequestView {
  id: string;
  resource: string;
  requester: ActorView;
  state: RequestStateName;
  durationMs: number;
  reason: string | null;
  ticket: string | null;
  createdAt: string;
  pendingUntil: string;
  approvalsRequired: number;
  /** Distinct approvals so far. */
  approvals: number;
  reviews: ReviewView[];
  /** Approver groups of the resource, as in ResourceSummary.approvers. */
  approvers: string[];
  grantedAt: string | null;
  expiresAt: string | null;
  closedAt: string | null;
  closedBy: ActorView | null;
  closeReason: string | null;
  autoApproved: boolean;
  /** Extensions asked for on this grant, oldest first (absent from brokers older than `access extend`). */
  extensions?: ExtensionView[];
  /**
   * A live grant: how much longer it may still be made with `access extend` under the policy now;
   * null when the resource allows no extension (absent from older brokers).
   */
  extendableMs?: number | null;
  /** Granted at once as break-glass (absent from older brokers: false). */
  breakGlass?: boolean;
  /** A break-glass grant's post-review; null while it waits (and for other requests). */
  postReview?: PostReviewView | null;
}

export type PostReviewVerdict = 'acceptable' | 'not_acceptable';

export interface PostReviewView {
  reviewer: ActorView;
  verdict: PostReviewVerdict;
  comment: string;
  at: string;
}

/** `POST /v1/requests/:id/post-review` body. */
export interface PostReviewBody {
  verdict: PostReviewVerdict;
  comment: string;
}

/** An extension of a grant (`access extend`): pending, approved (expiresAt moved), denied or lapsed. */
export interface ExtensionView {
  seq: number;
  durationMs: number;
  reason: string | null;
  requestedAt: string;
  state: 'pending' | 'approved' | 'denied' | 'lapsed';
  /** 0 when approved by policy (extend.approval none-within). */
  approvalsRequired: number;
  approvals: number;
  reviews: ReviewView[];
  decidedAt: string | null;
  /** The grant's end when the extension was asked for. */
  previousExpiresAt: string;
}

/** `POST /v1/requests/:id/extend` body. */
export interface ExtendBody {
  /** e.g. "30m". */
  duration: string;
  reason?: string;
}

/** `POST /v1/requests` body. */
export interface CreateRequestBody {
  resource: string;
  /** e.g. "1h30m"; omitted → the resource's default duration. */
  duration?: string;
  reason?: string;
  ticket?: string;
  /** Break-glass: granted at once to members of the resource's breakGlass.groups (reason required). */
  breakGlass?: boolean;
}

/** `POST /v1/requests/:id/review` body. */
export interface ReviewBody {
  decision: 'approve' | 'deny';
  comment?: string;
}

/** `POST /v1/requests/:id/revoke` and `/cancel` body. */
export interface ReasonBody {
  reason?: string;
}

export interface RequestsResponse {
  requests: RequestView[];
  /**
   * The cursor of the next page (`?cursor=`), null on the last page. Absent from brokers older
   * than paging (they answer everything in one page).
   */
  next?: string | null;
}

/** One entry of `GET /v1/approvals`: a pending request the caller can act on, with context for the decision. */
export interface ApprovalView extends RequestView {
  /** The requester's transitive groups now (from Graph). */
  requesterGroups: GroupRef[];
  /** The requester's most recent earlier requests on this resource. */
  recent: RequestView[];
}

export interface ApprovalsResponse {
  approvals: ApprovalView[];
  /** The cursor of the next page (`?cursor=`), null on the last page (see RequestsResponse.next). */
  next?: string | null;
}

/**
 * Messages the broker pushes on `GET /v1/events` (WebSocket, bearer token checked during the
 * upgrade). The requester receives every change to their requests; approvers receive every change
 * to pending requests they can act on; `expiring` warns a requester shortly before a grant ends.
 */
export type EventMessage =
  | { type: 'hello'; oid: string; upn: string | null }
  | { type: 'request'; change: string; request: RequestView }
  | { type: 'expiring'; request: RequestView; inMs: number };

// ---- Audit log (auditors only) ------------------------------------------------------------------

/** Every kind of entry in the audit log. New kinds are added here; stored entries never change kind. */
export const AUDIT_EVENT_TYPES = [
  'signin.seen',
  'request.created',
  'request.auto_approved',
  'request.review_recorded',
  'request.approved',
  'request.denied',
  'request.cancelled',
  'request.timed_out',
  'request.expired',
  'request.revoked',
  'request.extension_requested',
  'request.extension_review_recorded',
  'request.extended',
  'request.extension_denied',
  'request.extension_lapsed',
  /** A break-glass grant: taken at once without approval; it waits for a post-review. */
  'request.break_glass',
  'request.post_reviewed',
  'policy.refused',
  'session.opened',
  'session.closed',
  'pg.query',
  /** A Postgres session's startup: the database role, database and application name the client asked for. */
  'pg.startup',
  /** Data a Postgres client sent with COPY … FROM STDIN: counted (bytes, messages), never logged. */
  'pg.copy',
  /** Written by brokers before fail-closed capture only: the tunnel stopped reading a Postgres session's queries and relayed the rest. */
  'pg.capture_degraded',
  /** The client sent bytes the query capture could not record: the broker ended the session there and forwarded none of them. */
  'pg.unrecordable',
  /** The broker cut a Postgres session and cancelled the query its backend was running (CancelRequest). */
  'pg.cancelled',
  /** Forward-auth answers that let a caller through, counted per grant (per workload and resource) and audit window. */
  'forward_auth.allowed',
  /** Forward-auth refusals, counted per caller, resource and refusal code and audit window. */
  'forward_auth.refused',
  /** A MySQL/MariaDB session's handshake: the database user and database the client asked for, the server's connection id. */
  'mysql.handshake',
  /** A statement a MySQL/MariaDB client ran: COM_QUERY, or COM_STMT_EXECUTE with its parameters. */
  'mysql.query',
  /** A MySQL/MariaDB command that is not a statement but changes the session (COM_INIT_DB, COM_CHANGE_USER, …). */
  'mysql.command',
  /** The client sent bytes the MySQL capture could not record: the broker ended the session there and forwarded none of them. */
  'mysql.unrecordable',
  /** The broker cut a MySQL/MariaDB session and killed its running statement (KILL QUERY). */
  'mysql.killed',
  /**
   * The broker logged in to a postgres/mysql database with a login it holds (`credentials`): the
   * database user, where the password came from (never the password), and whether the database accepted it.
   */
  'db.login',
  /** A request of an http session, written before the broker forwarded it: method and path. */
  'http.request',
  /** How that request ended: status, body bytes each way, duration. */
  'http.response',
  /** A call of a grpc session, written before the broker forwarded it: its method (:path). */
  'grpc.call',
  /** How that call ended: grpc-status and message, bytes each way, duration. */
  'grpc.status',
  'audit.dropped',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/**
 * One audit entry as the API shows it. `at` is ISO with milliseconds and `body` the parsed JSON, so
 * an exported entry can be re-hashed from this form alone (broker/audit/entry.ts documents how).
 */
export interface AuditEntryView {
  seq: number;
  at: string;
  type: AuditEventType;
  /** Who acted; null for the clock (timeouts, expiries) and the broker itself. */
  actor: ActorView | null;
  /** The request id or session id the entry belongs to, if any. */
  subject: string | null;
  resource: string | null;
  body: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** `GET /v1/audit/events`: one page in sequence order; ask again with `after_seq=nextAfterSeq`. */
export interface AuditEventsResponse {
  entries: AuditEntryView[];
  /** The last seq in `entries`, or the `after_seq` asked for when there were none. */
  nextAfterSeq: number;
  /** The newest seq in the log when the page was read (0 for an empty log). */
  headSeq: number;
}

/** One tunnel session as the audit log recorded it (`session.opened` + `session.closed`). */
export interface AuditSessionView {
  id: string;
  /** The grant (request) the session ran under. */
  requestId: string | null;
  user: ActorView;
  resource: string;
  target: string | null;
  client: string | null;
  openedAt: string;
  /** Null while the session is open (or when the broker stopped before recording its end). */
  closedAt: string | null;
  /** Client → target. */
  bytesUp: number | null;
  /** Target → client. */
  bytesDown: number | null;
  /** How it ended (a close code name such as `grantExpired`, `targetClosed`), null while open. */
  endReason: string | null;
  /** Postgres queries, http requests or grpc calls the session sent, when the tunnel counted them. */
  queries: number | null;
  /** The reason given when the grant the session ran under was requested (null when none was given). */
  reason: string | null;
  /** The session ran under a break-glass grant (absent from older brokers). */
  breakGlass?: boolean;
  /** That grant's post-review; null while it waits (and for other grants). */
  postReview?: PostReviewView | null;
}

/** `GET /v1/audit/sessions`: newest first. */
export interface AuditSessionsResponse {
  sessions: AuditSessionView[];
  /** The cursor of the next page (`?cursor=`), null on the last page (see RequestsResponse.next). */
  next?: string | null;
}

/** `GET /v1/audit/show/:id`: the whole story of a request or a session, in log order. */
export interface AuditShowResponse {
  id: string;
  kind: 'request' | 'session';
  /** The request the story belongs to (the id itself for a request; the grant of a session). */
  requestId: string | null;
  sessions: AuditSessionView[];
  entries: AuditEntryView[];
  /** True when the story has more entries than were returned (a session with very many queries). */
  truncated: boolean;
}

/** `GET /v1/audit/verify`: the hash chain recomputed from the first entry to the head. */
export type AuditVerifyResponse =
  | { ok: true; count: number; headSeq: number; headHash: string }
  | {
      ok: false;
      /** Entries that verified before the first bad one. */
      count: number;
      firstBadSeq: number;
      /** `missing`: the seq is absent; `altered`: its content no longer matches its hash; `unlinked`: it does not chain to the entry before it. */
      problem: 'missing' | 'altered' | 'unlinked';
      reason: string;
    };
