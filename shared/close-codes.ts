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
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** What each close code means, in words a person reads in the CLI. */
export const CLOSE_REASONS: Record<CloseCode, string> = {
  [CloseCode.goingAway]: 'the broker is shutting down',
  [CloseCode.policyViolation]: 'the broker refused what this client sent',
  [CloseCode.tryAgainLater]: 'the connection fell too far behind',
  [CloseCode.tokenExpired]: 'the access token expired',
};
