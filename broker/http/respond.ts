// Reading requests and writing answers. Every error leaves the broker as `{ code, message }`
// with the HTTP status of its code (shared/errors.ts); unexpected errors become `internal`
// without leaking their details to the caller.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError, type ErrorBody } from '../../shared/errors.js';
import { storeWriteFailure } from '../store/write-failure.js';
import { MAX_API_BODY_BYTES } from '../../shared/limits.js';
import { retryAfterHeader } from './rate-limit.js';

/** API request bodies are small JSON documents; larger ones are refused rather than buffered (shared/limits.ts). */
export const MAX_JSON_BODY_BYTES = MAX_API_BODY_BYTES;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function toAccessError(error: unknown): AccessError {
  if (error instanceof AccessError) return error;
  return storeWriteFailure(error) ?? new AccessError('internal', 'the broker hit an unexpected error; it has been logged');
}

export function sendError(res: ServerResponse, error: AccessError): void {
  const body: ErrorBody = error.toBody();
  const headers: Record<string, string> = {};
  if (error.status === 401) headers['www-authenticate'] = `Bearer error="invalid_token", error_description="${error.code}"`;
  // The rest of an oversized body is not read: close the connection rather than drain it.
  if (error.code === 'payload_too_large') headers['connection'] = 'close';
  Object.assign(headers, retryAfterHeader(error));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  sendJson(res, error.status, body);
}

export async function readJsonBody(req: IncomingMessage, limit = MAX_JSON_BODY_BYTES): Promise<unknown> {
  // A declared length above the limit is refused before a byte of the body is read.
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new AccessError('payload_too_large', `request body is ${declared} bytes; the limit is ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new AccessError('payload_too_large', `request body is larger than ${limit} bytes, the limit`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new AccessError('bad_request', 'request body is not valid JSON');
  }
}
