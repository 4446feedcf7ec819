// The Microsoft Graph client (unmodified) over our HttpTransport. The client's default chain ends
// in the global fetch; ours ends in `transport.fetch`, so Graph calls use the same explicit
// loopback/CA configuration as MSAL and jose. The library's own AuthenticationHandler attaches the
// token (only for Graph hosts and the base URL's host) and its RetryHandler honours throttling.

import {
  AuthenticationHandler,
  Client,
  RetryHandler,
  RetryHandlerOptions,
  type Context,
  type Middleware,
  type ShouldRetry,
} from '@microsoft/microsoft-graph-client';
import type { HttpTransport } from './http-transport.js';
import { parseWholeNumber } from './whole-number.js';

/** Retries of one Graph call when Graph says when to come back (429/503/504 with Retry-After). */
export const MAX_GRAPH_RETRIES = 2;
/**
 * Longest Retry-After we wait for. Graph calls sit on request paths (a membership check); a longer
 * wait is worse than failing closed with a clear "directory unavailable" and letting the person retry.
 */
export const MAX_GRAPH_RETRY_AFTER_SEC = 5;
/** Seconds RetryHandler would wait without Retry-After (never used: we only retry with one). */
const FALLBACK_RETRY_DELAY_SEC = 1;

/** Performs the request through the transport and hands the response back up the chain. */
class TransportHandler implements Middleware {
  constructor(private readonly transport: HttpTransport) {}

  async execute(context: Context): Promise<void> {
    const request = context.request as string | Request;
    context.response = await this.transport.fetch(request, (context.options ?? {}) as RequestInit);
  }
}

/**
 * Retry only when the server names a short wait. An outage without Retry-After is reported at
 * once: the caller's cache and fail-closed policy decide what happens next, not a sleep here.
 */
const retryWhenToldWhen: ShouldRetry = (_delay, _attempt, _request, _options, response) => {
  const retryAfter = response.headers.get('retry-after');
  // A date form of Retry-After (or anything else) is not a short wait.
  return retryAfter !== null && parseWholeNumber(retryAfter, 0, MAX_GRAPH_RETRY_AFTER_SEC) !== undefined;
};

/**
 * A Graph client whose calls go through `transport`, authenticated with `getToken` (an app-only
 * token, e.g. from MSAL client credentials). `baseUrl` is Graph's root without the version
 * (`https://graph.microsoft.com`, or the dev tenant's `https://127.0.0.1:PORT/graph`); its host is
 * declared a custom Graph host so the client attaches the token to it and to its nextLinks.
 */
export function graphClientOverTransport(transport: HttpTransport, getToken: () => Promise<string>, baseUrl: string): Client {
  const auth = new AuthenticationHandler({ getAccessToken: getToken });
  const retry = new RetryHandler(new RetryHandlerOptions(FALLBACK_RETRY_DELAY_SEC, MAX_GRAPH_RETRIES, retryWhenToldWhen));
  const send = new TransportHandler(transport);
  return Client.initWithMiddleware({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    defaultVersion: 'v1.0',
    customHosts: new Set([new URL(baseUrl).hostname]),
    middleware: [auth, retry, send],
  });
}
