// Reading requests and writing answers. Every error leaves the broker as `{ code, message }`
// with the HTTP status of its code (shared/errors.ts); unexpected errors become `internal`
// without leaking their details to the caller.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { claimsChallengeHeader } from '../../shared/claims-challenge.js';
import { AccessError, type ErrorBody } from '../../shared/errors.js';
import { MAX_API_BODY_BYTES } from '../../shared/limits.js';
import { storeWriteFailure } from '../store/write-failure.js';
import { retryAfterHeader } from './rate-limit.js';

/** API request bodies are small JSON documents; larger ones are refused rather than buffered (shared/limits.ts). */
export const MAX_JSON_BODY_BYTES = MAX_API_BODY_BYTES;

/**
 * `Retry-After` on every 503 (starting, stopping, a dependency down), in seconds: long enough not
 * to hammer a broker that is starting, short enough that a client retrying by hand barely waits.
 */
export const RETRY_AFTER_SECONDS = 2;

/**
 * The extra headers an error answer carries: the Bearer challenge on 401 (a claims challenge when
 * the error names claims a new sign-in must satisfy, with the tenant's authorize endpoint
 * `authorizationUri`), Retry-After on 503 and on a rate limit's 429 (the wait it names, http/rate-limit.ts).
 */
export function errorHeaders(error: AccessError, authorizationUri = ''): Record<string, string> {
  if (error.status === 401 && error.claims !== null) return { 'WWW-Authenticate': claimsChallengeHeader(error.claims, authorizationUri) };
  if (error.status === 401) return { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${error.code}"` };
  if (error.status === 503) return { 'Retry-After': String(RETRY_AFTER_SECONDS) };
  return retryAfterHeader(error);
}

/** The tenant's authorize endpoint (for claims challenges) from the CLI's MSAL authority. */
export function authorizeEndpoint(authority: string): string {
  return `${authority.replace(/\/+$/, '')}/oauth2/v2.0/authorize`;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function toAccessError(error: unknown): AccessError {
  if (error instanceof AccessError) return error;
  // A full or failing disk is a coded 503 the caller can act on, not an `internal` 500.
  return storeWriteFailure(error) ?? new AccessError('internal', 'the broker hit an unexpected error; it has been logged');
}

export function sendError(res: ServerResponse, error: AccessError, authorizationUri = ''): void {
  const body: ErrorBody = error.toBody();
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name, value] of Object.entries(errorHeaders(error, authorizationUri))) res.setHeader(name, value);
  // The rest of an oversized body is not read: close the connection rather than drain it.
  if (error.code === 'payload_too_large') res.setHeader('connection', 'close');
  sendJson(res, error.status, body);
}

/**
 * Reads the whole body as text, refusing (413) above `limit` bytes: a declared Content-Length above
 * it unread, a chunked body as soon as it passes it, so a stray upload is never buffered.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(declared, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(size, limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(size: number, limit: number): AccessError {
  return new AccessError('payload_too_large', `the request body of ${size} bytes is larger than the ${limit} bytes accepted here — send a smaller one`);
}

/** An API request's JSON body; an empty body is `{}`. */
export async function readJsonBody(req: IncomingMessage, limit = MAX_JSON_BODY_BYTES): Promise<unknown> {
  const text = await readBody(req, limit);
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new AccessError('bad_request', 'request body is not valid JSON');
  }
}
