// The one table of error codes shared by the broker (HTTP status on the wire) and the CLI
// (process exit code). Every refusal anywhere in the product uses one of these codes; the wire
// form is always `{ code, message }`.

/** Process exit codes of the CLI (DESIGN.md, "Interfaces people expect"). */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  denied: 3,
  notSignedIn: 4,
  timedOut: 5,
  /** 128 + SIGINT: the shell's convention for "stopped by Ctrl-C" (e.g. leaving a request pending). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface ErrorKind {
  /** HTTP status the broker answers with. */
  readonly status: number;
  /** Exit code the CLI ends with when this error reaches the top. */
  readonly exit: ExitCode;
}

const unauthorized: ErrorKind = { status: 401, exit: ExitCode.notSignedIn };
const forbidden: ErrorKind = { status: 403, exit: ExitCode.denied };
const badRequest: ErrorKind = { status: 400, exit: ExitCode.usage };
const unavailable: ErrorKind = { status: 503, exit: ExitCode.error };
const conflict: ErrorKind = { status: 409, exit: ExitCode.error };
/**
 * A resource's condition needs a stronger sign-in: 401 with a claims challenge (shared/claims-challenge.ts)
 * the CLI answers by signing in again; when that cannot help, the person is denied.
 */
const stepUp: ErrorKind = { status: 401, exit: ExitCode.denied };

export const ErrorCodes = {
  // Bearer token validation (broker/auth). Each failed check has its own code.
  token_missing: unauthorized,
  token_malformed: unauthorized,
  token_algorithm_not_allowed: unauthorized,
  token_signature_invalid: unauthorized,
  token_key_unknown: unauthorized,
  token_expired: unauthorized,
  token_not_yet_valid: unauthorized,
  token_issuer_invalid: unauthorized,
  token_tenant_invalid: unauthorized,
  token_audience_invalid: unauthorized,
  token_scope_missing: unauthorized,
  token_role_missing: unauthorized,
  token_subject_missing: unauthorized,
  /** The token was obtained by a client the broker does not serve (azp/appid not the CLI or a configured automation app). */
  token_client_invalid: unauthorized,
  jwks_unavailable: unavailable,

  // Directory (Microsoft Graph).
  directory_unavailable: unavailable,

  // Authorization.
  forbidden,

  // Access requests (broker/requests): who may do what to a request.
  not_a_requester: forbidden,
  not_an_approver: forbidden,
  self_review: forbidden,
  not_allowed_to_cancel: forbidden,
  not_allowed_to_revoke: forbidden,
  /** Only the grant's requester may extend it. */
  not_allowed_to_extend: forbidden,
  /** No breakGlass on the resource, or the caller is not in its groups. */
  break_glass_not_allowed: forbidden,
  /** The resource's policy has no `extend` (or the resource left the configuration). */
  extend_not_allowed: forbidden,
  // Access requests: the request is not in a state that allows the action.
  request_not_pending: conflict,
  already_reviewed: conflict,
  grant_not_active: conflict,
  /** A post-review of a request that was not a break-glass grant. */
  not_a_break_glass_grant: conflict,
  /** The grant already has an extension waiting for approval. */
  extension_pending: conflict,
  // Access requests: what was asked for breaks the resource's policy.
  duration_invalid: badRequest,
  duration_too_long: badRequest,
  /** The extension would make the grant longer than the policy's extend.maxTotal. */
  extension_too_long: badRequest,
  reason_required: badRequest,
  reason_too_long: badRequest,
  reason_invalid: badRequest,
  ticket_required: badRequest,
  ticket_invalid: badRequest,
  // Access requests: lookups.
  unknown_resource: { status: 404, exit: ExitCode.usage },
  request_not_found: { status: 404, exit: ExitCode.error },

  // The tunnel (`/v1/tunnel`): refused during the HTTP upgrade, before any WebSocket exists.
  /** The caller holds no approved, unexpired grant on the resource. */
  no_live_grant: forbidden,
  /** A workload (service principal) whose client id the resource's `workloads` does not list. */
  not_a_workload: forbidden,
  /** The broker requires client certificates (tls.clientCa) and the connection presented none. */
  client_certificate_required: { status: 403, exit: ExitCode.error },
  /** The client certificate presented was not issued by the broker's tls.clientCa (or is out of date). */
  client_certificate_refused: { status: 403, exit: ExitCode.error },
  /** The resource's limit of concurrent tunnels is reached. */
  too_many_connections: { status: 429, exit: ExitCode.error },
  /** The broker could not dial the resource's target (refused, timed out, unresolvable). */
  target_unreachable: { status: 502, exit: ExitCode.error },
  /** The broker reached the target but could not set up TLS to it (`targetTls`): refused, bad certificate. */
  target_tls_failed: { status: 502, exit: ExitCode.error },
  /** The resource logs in to the database for its users (`credentials`), but none of its logins is for the caller's groups. */
  no_database_credential: forbidden,

  // A resource's conditions (broker/policy/conditions.ts), checked at request, approval, tunnel
  // open and every re-check. Each names the condition and what satisfies it.
  /** requireMfa: the token shows no multi-factor sign-in (`amr` without mfa, no authentication context). */
  mfa_required: stepUp,
  /** requireAuthContext: the token's `acrs` lacks the resource's authentication context. */
  auth_context_required: stepUp,
  /** maxSignInAge: the sign-in behind the token is older than the resource allows. */
  sign_in_too_old: stepUp,
  /** sourceNetworks: the client address the broker sees is outside the resource's networks. */
  network_not_allowed: forbidden,
  /** hours: outside the resource's time window. */
  outside_hours: forbidden,

  // The audit log (broker/audit): only members of the auditor groups read it.
  not_an_auditor: forbidden,
  /** No audit entry names this request or session id. */
  audit_subject_not_found: { status: 404, exit: ExitCode.error },

  // Generic request problems.
  bad_request: badRequest,
  not_found: { status: 404, exit: ExitCode.error },
  method_not_allowed: { status: 405, exit: ExitCode.error },
  payload_too_large: { status: 413, exit: ExitCode.error },
  /** A text field (body, path or query) is longer than its limit (shared/limits.ts); the message quotes the limit. */
  field_too_long: badRequest,
  /** Too many calls of one kind from one caller in a short time: wait Retry-After seconds (broker/http/rate-limit.ts). */
  rate_limited: { status: 429, exit: ExitCode.error },
  /** Too many failed token checks from one address: wait Retry-After seconds, then sign in again. */
  too_many_failed_sign_ins: { status: 429, exit: ExitCode.error },
  /** One person holds as many pending requests, event streams or tunnels as one person may. */
  too_many_pending: { status: 429, exit: ExitCode.error },
  too_many_streams: { status: 429, exit: ExitCode.error },
  /** A `cursor` the broker did not hand out (or from another listing). */
  cursor_invalid: badRequest,
  /** The request line and headers are above Node's limit (answered on the parser's `clientError`). */
  headers_too_large: { status: 431, exit: ExitCode.error },
  /** The client did not send a whole request within the server's request timeout. */
  request_timeout: { status: 408, exit: ExitCode.error },
  /** The Host header is not one of the broker's own names (broker/http/host-allow-list.ts): the DNS rebinding defence. */
  host_not_allowed: { status: 421, exit: ExitCode.error },
  /** A form post from another origin, or without the form's own token (broker/devtenant/form-guard.ts). */
  cross_site_request: { status: 403, exit: ExitCode.error },
  internal: { status: 500, exit: ExitCode.error },
  shutting_down: unavailable,
  /** The broker is starting, or a part it needs (store, signing keys, Graph) does not answer: `GET /readyz` says which. */
  not_ready: unavailable,

  // CLI-side situations (never sent by the broker, but printed and mapped the same way).
  usage: badRequest,
  not_signed_in: unauthorized,
  sign_in_failed: { status: 401, exit: ExitCode.error },
  /** The identity provider could not be reached (network, or the dev tenant's broker is down): worth trying again, unlike sign_in_failed. */
  tenant_unreachable: unavailable,
  sign_in_timed_out: { status: 408, exit: ExitCode.timedOut },
  /** The person pressed Decline on the sign-in page (device code or browser): nobody was signed in. */
  sign_in_declined: forbidden,
  /** The tenant refused the sign-in by policy (Conditional Access AADSTS53003, e.g. a block on device code sign-in). */
  sign_in_blocked: forbidden,
  broker_unreachable: unavailable,
  broker_response_invalid: { status: 502, exit: ExitCode.error },
  /** The broker's answer is larger than the CLI accepts (shared/limits.ts MAX_RESPONSE_BYTES): not a connection problem. */
  response_too_large: { status: 502, exit: ExitCode.error },
  secret_store_failed: { status: 500, exit: ExitCode.error },
  config_invalid: { status: 500, exit: ExitCode.error },
  /** `access connect` could not listen on the local address (port in use, address not on this machine). */
  listen_failed: { status: 500, exit: ExitCode.error },
  // Ctrl-C at a prompt; 499 is nginx's "client closed request" (the status is never sent).
  interrupted: { status: 499, exit: ExitCode.interrupted },

  /** A package the broker needs is not installed (the SQLite binding is not a dependency of the CLI): the message names the install command. */
  dependency_missing: { status: 500, exit: ExitCode.error },

  // `access-broker dev` demo targets (a local PostgreSQL, a TCP service) that could not start.
  demo_target_failed: { status: 500, exit: ExitCode.error },

  // Storage (broker/store).
  /** The database file cannot be opened or set up (missing directory, no permission, no WAL). */
  store_unavailable: unavailable,
  /** The database's disk is full: new work is refused (nothing half-written) until space is freed. */
  store_full: unavailable,
  /** The database was written by a newer broker; running older code on it could corrupt it. */
  store_incompatible: { status: 500, exit: ExitCode.error },
  /** A write contradicts what is stored (duplicate id, a review history rewritten under us). */
  store_conflict: { status: 409, exit: ExitCode.error },
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCodes, value);
}

/** Wire form of every error the broker sends. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/**
 * An error the user (or the caller) can understand and act on. The message says what was wrong,
 * quoting the bad value, and what to do next. Anything else that reaches the top is a bug.
 */
export class AccessError extends Error {
  override readonly name = 'AccessError';

  /**
   * The claims request (JSON text) a stronger sign-in must satisfy: the broker sends it as a claims
   * challenge in `WWW-Authenticate`; the CLI signs in again with it. Null for every other error.
   */
  readonly claims: string | null;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; claims?: string | null },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.claims = options?.claims ?? null;
  }

  get status(): number {
    return ErrorCodes[this.code].status;
  }

  get exitCode(): ExitCode {
    return ErrorCodes[this.code].exit;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}
