// Small request/response helpers shared by the dev tenant's three route families (identity
// provider, Graph emulator, device-login page). Each family answers errors in its own shape; what
// they share is reading a bounded body and writing a complete response.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError } from '../../shared/errors.js';

/**
 * Largest request body the dev tenant reads. Its bodies are OAuth forms, a device-login form and
 * `checkMemberGroups` (at most 20 ids): a few KiB at most. Anything larger is refused unread so a
 * stray upload cannot make the broker buffer it.
 */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024;

/** Reads the whole body, refusing (413) above MAX_REQUEST_BODY_BYTES. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_REQUEST_BODY_BYTES) {
    throw tooLarge(declared);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BODY_BYTES) throw tooLarge(size);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(size: number): AccessError {
  return new AccessError(
    'payload_too_large',
    `request body of ${size} bytes is larger than the dev tenant accepts (${MAX_REQUEST_BODY_BYTES} bytes)`,
  );
}

/** The media type of a request without parameters, lower-cased ("" when absent). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Parses an application/x-www-form-urlencoded body into single values (first one wins). */
export function parseForm(body: string): Map<string, string> {
  const form = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(body)) {
    if (!form.has(key)) form.set(key, value);
  }
  return form;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
    'cache-control': 'no-store',
    // The page has no scripts and loads nothing; say so, and keep it out of frames.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
  });
  res.end(html);
}
