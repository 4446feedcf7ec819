// Small request/response helpers shared by the dev tenant's three route families (identity
// provider, Graph emulator, device-login page). Each family answers errors in its own shape; what
// they share is the body limit and the HTML page answer. Bodies are read and JSON is written by the
// broker's own helpers (http/respond.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Largest request body the dev tenant reads. Its bodies are OAuth forms, a device-login form and
 * `checkMemberGroups` (at most 20 ids): a few KiB at most. Anything larger is refused unread so a
 * stray upload cannot make the broker buffer it.
 */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024;

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

/** The pages have no scripts and load nothing; they say so, and keep out of frames. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/** `options.csp` replaces the default Content-Security-Policy (the one page that posts elsewhere needs its own). */
export function sendHtml(res: ServerResponse, status: number, html: string, options: { csp?: string } = {}): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
    'cache-control': 'no-store',
    'content-security-policy': options.csp ?? PAGE_CSP,
    'x-content-type-options': 'nosniff',
  });
  res.end(html);
}
