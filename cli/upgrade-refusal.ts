// A WebSocket upgrade the broker refused arrives as a plain HTTP answer with the broker's
// `{code, message}` body (the bearer token and the policy are checked before any WebSocket exists).
// This turns it back into the broker's own AccessError, so the CLI prints the broker's words and
// exits with that code's status; a body that is not the broker's falls back to the HTTP status.

import type { IncomingMessage } from 'node:http';
import { parseClaimsChallenge } from '../shared/claims-challenge.js';
import { AccessError, isErrorCode } from '../shared/errors.js';
import { safeText } from '../shared/safe-text.js';

/** A refusal is a small `{code, message}` body; read no more than this of it. */
export const MAX_REFUSAL_BYTES = 16 * 1024;

/**
 * `what` names the endpoint without an article ("events stream", "tunnel"); `url` is the one dialled.
 * Consumes the response body (up to MAX_REFUSAL_BYTES).
 */
export async function readUpgradeRefusal(what: string, url: string, res: IncomingMessage): Promise<AccessError> {
  return (await readRefusal(what, url, res)).error;
}

/** As readUpgradeRefusal, saying also whether the body was the broker's `{code, message}` (else a load balancer's page, or nothing). */
export async function readRefusal(what: string, url: string, res: IncomingMessage): Promise<{ error: AccessError; fromBroker: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_REFUSAL_BYTES) break;
      chunks.push(chunk);
    }
  } catch {
    // A cut body still leaves the status to report.
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown; message?: unknown };
    if (isErrorCode(body.code) && typeof body.message === 'string') {
      // A claims challenge (a resource's condition needs a stronger sign-in) rides along for a retry.
      const claims = res.statusCode === 401 ? parseClaimsChallenge(res.headers['www-authenticate']) : null;
      return { error: new AccessError(body.code, safeText(body.message), { claims }), fromBroker: true };
    }
  } catch {
    // Not JSON: fall through to the status.
  }
  const status = res.statusCode ?? 0;
  const error =
    status === 401
      ? new AccessError('not_signed_in', `the broker refused the ${what} at ${url} (HTTP 401) — run \`access login\``)
      : status === 404
        ? new AccessError('broker_response_invalid', `the broker has no ${what} at ${url} (HTTP 404) — is it older than this CLI?`)
        : new AccessError('broker_response_invalid', `the broker answered the ${what} at ${url} with HTTP ${status}`);
  return { error, fromBroker: false };
}
