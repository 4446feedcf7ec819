// Cross-site request forgery defence for the dev tenant's form posts. A web page on another site
// can make a person's browser POST a form to http://127.0.0.1:4780 (a "simple" request: no CORS
// preflight), so without a check any page the developer visits could approve a sign-in on the
// device-login page or fill the pending device codes. Two checks, each enough against a browser:
//
//   same origin  a browser's Origin (or, without it, Referer) must be the broker's own origin:
//                the scheme of this connection and the Host the request came with, which the
//                Host allow-list (http/host-allow-list.ts) has already vouched for. Non-browser
//                clients (MSAL, scripts) send neither, and pass this check.
//   form token   the device-login form carries a token the broker signed (HMAC with a secret made
//                at start, and an expiry); a page on another origin cannot read the form, so it
//                cannot submit one. A script reads the token from the page as a browser does.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { AccessError } from '../../shared/errors.js';
import { sendJson } from '../http/respond.js';

/** How long a form token stays good: a person takes minutes, not hours, between opening the page and submitting it. */
export const FORM_TOKEN_LIFETIME_MS = 60 * 60_000;
/** The form field that carries the token. */
export const FORM_TOKEN_FIELD = 'form_token';
const SECRET_BYTES = 32;

export class FormGuard {
  readonly #secret = randomBytes(SECRET_BYTES);
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** A fresh token for a form the broker serves now. */
  issue(): string {
    const expires = String(this.#now() + FORM_TOKEN_LIFETIME_MS);
    return `${expires}.${this.#mac(expires)}`;
  }

  /** Why a form post must be refused (another origin, no or a bad token), or null when it may go on. */
  checkForm(req: IncomingMessage, token: string | undefined): string | null {
    const crossSite = this.checkOrigin(req);
    if (crossSite) return crossSite;
    if (!token) return 'The form was sent without its token. Open the sign-in page again and submit it from there.';
    const [expires = '', mac = ''] = token.split('.');
    const expected = Buffer.from(this.#mac(expires));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return 'The form token is not one this broker issued. Open the sign-in page again and submit it from there.';
    }
    if (this.#now() >= Number(expires)) return 'The form has expired. Open the sign-in page again and submit it from there.';
    return null;
  }

  /** Why a post from a browser on another origin must be refused, or null (same origin, or no browser headers at all). */
  checkOrigin(req: IncomingMessage): string | null {
    const own = `${(req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http'}://${(req.headers.host ?? '').toLowerCase()}`;
    const origin = req.headers.origin;
    if (origin !== undefined) return origin.toLowerCase() === own ? null : `A page on another origin (${origin}) may not post to this broker's forms.`;
    const referer = req.headers.referer;
    if (referer === undefined) return null;
    let from: string;
    try {
      from = new URL(referer).origin;
    } catch {
      return 'The request came from a page this broker cannot identify (a malformed Referer).';
    }
    return from === own ? null : `A page on another origin (${from}) may not post to this broker's forms.`;
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#secret).update(text).digest('base64url');
  }
}

/**
 * Answers 403 `cross_site_request` to a POST a browser sent from a page on another origin (the
 * token and devicecode endpoints take form bodies too), and says whether it did.
 */
export function refuseCrossSitePost(ctx: { forms: FormGuard }, req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'POST') return false;
  const crossSite = ctx.forms.checkOrigin(req);
  if (crossSite === null) return false;
  const error = new AccessError('cross_site_request', crossSite);
  sendJson(res, error.status, error.toBody());
  return true;
}
