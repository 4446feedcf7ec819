// WebSocket close codes the broker sends and the CLI explains, defined once for both.
// 1000–1015 are RFC 6455's; 4000–4999 are left to applications (RFC 6455 section 7.4.2).

export const CloseCode = {
  /** The broker is shutting down; reconnect to the next one. */
  goingAway: 1001,
  /** The peer sent something the endpoint does not accept. */
  policyViolation: 1008,
  /** The reader fell too far behind; reconnect and catch up. */
  tryAgainLater: 1013,
  /** The bearer token the connection was opened with has expired; reconnect with a fresh one. */
  tokenExpired: 4001,

  // The tunnel (`/v1/tunnel`): why the broker cut a connection. The close reason (≤ 123 bytes)
  // carries the specifics, e.g. the revoker and their reason.
  /** The target closed the connection (the database ended the session). */
  targetClosed: 4100,
  /** The target failed mid-session (reset, timeout). */
  targetFailed: 4101,
  /** The grant reached its absolute expiry. */
  grantExpired: 4110,
  /** The grant was revoked (reason: "revoked by <upn>: <reason>"). */
  grantRevoked: 4111,
  /** The periodic membership re-check found the user gone from the resource's requester groups. */
  membershipLost: 4112,
  /** No bytes either way for the resource's idle timeout. */
  idleTimeout: 4113,
  /**
   * The directory (Graph) could not confirm the user's membership for the membership grace
   * (config.membershipGraceSeconds): the broker fails closed. Not the grant's end: a new connection
   * is admitted once Graph answers again.
   */
  membershipUnconfirmed: 4115,
  /**
   * The client sent bytes the broker could not record (a Postgres stream that stopped being one it
   * can read: garbage, a TLS handshake, a third encryption request…). The broker ends the session
   * rather than forward what the audit log would not hold; the reason names what it saw.
   */
  unrecordable: 4114,
  /**
   * The resource's time window (`conditions.hours`) closed: live tunnels are cut at its end. The
   * reason names the window; new tunnels are refused until it opens again.
   */
  outsideHours: 4116,
  /**
   * A resource condition no longer holds for a live tunnel (the sign-in grew older than maxSignInAge):
   * the reason says which and what to do (usually `access login` again).
   */
  conditionUnmet: 4117,
  /**
   * The database refused the login the broker holds for the resource (`credentials`: a wrong or
   * expired stored password, a dropped user). The client got the database protocol's own error
   * first (psql prints it); an administrator must fix the stored credential.
   */
  credentialRefused: 4118,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** What each close code means, in words a person reads in the CLI. */
export const CLOSE_REASONS: Record<CloseCode, string> = {
  [CloseCode.goingAway]: 'the broker is shutting down',
  [CloseCode.policyViolation]: 'the broker refused what this client sent',
  [CloseCode.tryAgainLater]: 'the connection fell too far behind',
  [CloseCode.tokenExpired]: 'the access token expired',
  [CloseCode.targetClosed]: 'the target closed the connection',
  [CloseCode.targetFailed]: 'the connection to the target failed',
  [CloseCode.grantExpired]: 'access expired',
  [CloseCode.grantRevoked]: 'access was revoked',
  [CloseCode.membershipLost]: 'you are no longer in a group allowed to use this resource',
  [CloseCode.idleTimeout]: 'the connection was idle too long',
  [CloseCode.membershipUnconfirmed]: 'your group membership could not be confirmed (the directory is unavailable)',
  [CloseCode.unrecordable]: 'the broker ended the session: it could not record what the client sent',
  [CloseCode.outsideHours]: "the resource's time window closed",
  [CloseCode.conditionUnmet]: 'a condition of the resource no longer holds',
  [CloseCode.credentialRefused]: "the database refused the broker's stored login for this resource — tell an administrator",
};
