// The Microsoft Graph client (unmodified) over our HttpTransport. The client's default chain ends
// in the global fetch; ours ends in `transport.fetch`, so Graph calls use the same explicit
// loopback/CA configuration as MSAL and jose. The library's own AuthenticationHandler attaches the
// token (only for Graph hosts and the base URL's host); ThrottleRetryHandler waits out throttling.

import { AuthenticationHandler, Client, type Context, type Middleware } from '@microsoft/microsoft-graph-client';
import type { HttpTransport } from './http-transport.js';
import { parseWholeNumber } from './whole-number.js';

/**
 * Total time one Graph call may spend waiting for Retry-After answers, by default. Graph calls sit
 * on request paths (a membership check): past this the call fails closed with "directory
 * unavailable" and the person retries, rather than hanging.
 */
export const DEFAULT_GRAPH_RETRY_BUDGET_MS = 10_000;
/** Retries of one call whatever the budget: a Graph answering `Retry-After: 0` in a loop must not spin. */
export const MAX_GRAPH_RETRIES = 5;
/** Extra wait on top of Retry-After, as a fraction of it: clients throttled together do not return together. */
export const GRAPH_RETRY_JITTER = 0.2;
/** Statuses Graph sends Retry-After with (learn.microsoft.com/graph/throttling). */
const THROTTLED = new Set([429, 503, 504]);

export interface GraphRetryOptions {
  /** Default DEFAULT_GRAPH_RETRY_BUDGET_MS. */
  retryBudgetMs?: number;
  /** Waits `ms`; tests pass one that records the wait. Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
  /** Clock for an HTTP-date Retry-After. Default Date.now. */
  now?: () => number;
}

/** One HTTP exchange with Graph (a throttled call's every retry is one), as its observer sees it. */
export interface GraphCall {
  /** The HTTP status, or null when no answer came (network failure, timeout). */
  status: number | null;
  durationMs: number;
}

/** Told about every exchange with Graph (the broker's metrics); must not throw. */
export type GraphCallObserver = (call: GraphCall) => void;

/** Times each exchange just above the transport, so retries and failures are seen one by one. */
class ObservingHandler implements Middleware {
  #next: Middleware | undefined;

  constructor(private readonly observe: GraphCallObserver) {}

  setNext(next: Middleware): void {
    this.#next = next;
  }

  async execute(context: Context): Promise<void> {
    const next = this.#next;
    if (!next) throw new Error('ObservingHandler needs a next middleware');
    const started = performance.now();
    try {
      await next.execute(context);
    } catch (error) {
      this.observe({ status: null, durationMs: performance.now() - started });
      throw error;
    }
    this.observe({ status: context.response?.status ?? null, durationMs: performance.now() - started });
  }
}

/** Performs the request through the transport and hands the response back up the chain. */
class TransportHandler implements Middleware {
  constructor(private readonly transport: HttpTransport) {}

  async execute(context: Context): Promise<void> {
    const request = context.request as string | Request;
    context.response = await this.transport.fetch(request, (context.options ?? {}) as RequestInit);
  }
}

/**
 * Retries a throttled call only when Graph names the wait (Retry-After) and the waits so far plus
 * this one fit in the budget; anything else is handed up at once, so the caller's cache and
 * fail-closed policy decide what happens next.
 */
export class ThrottleRetryHandler implements Middleware {
  #next: Middleware | undefined;
  readonly #budgetMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;

  constructor(options: GraphRetryOptions = {}) {
    this.#budgetMs = options.retryBudgetMs ?? DEFAULT_GRAPH_RETRY_BUDGET_MS;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  setNext(next: Middleware): void {
    this.#next = next;
  }

  async execute(context: Context): Promise<void> {
    const next = this.#next;
    if (!next) throw new Error('ThrottleRetryHandler needs a next middleware');
    let waitedMs = 0;
    for (let retry = 0; ; retry++) {
      await next.execute(context);
      const response = context.response;
      if (!response || !THROTTLED.has(response.status) || retry >= MAX_GRAPH_RETRIES) return;
      const afterMs = retryAfterMs(response.headers.get('retry-after'), this.#now());
      if (afterMs === null || waitedMs + afterMs > this.#budgetMs) return;
      const waitMs = Math.min(afterMs + afterMs * GRAPH_RETRY_JITTER * this.#random(), this.#budgetMs - waitedMs);
      await this.#sleep(waitMs);
      waitedMs += waitMs;
    }
  }
}

/** Retry-After in milliseconds (delta-seconds or an HTTP date), or null when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  const seconds = parseWholeNumber(text);
  if (seconds !== undefined) return seconds * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * A Graph client whose calls go through `transport`, authenticated with `getToken` (an app-only
 * token, e.g. from MSAL client credentials). `baseUrl` is Graph's root without the version
 * (`https://graph.microsoft.com`, or the dev tenant's `https://127.0.0.1:PORT/graph`); its host is
 * declared a custom Graph host so the client attaches the token to it and to its nextLinks.
 */
export function graphClientOverTransport(
  transport: HttpTransport,
  getToken: () => Promise<string>,
  baseUrl: string,
  retry: GraphRetryOptions = {},
  observe: GraphCallObserver | null = null,
): Client {
  const auth = new AuthenticationHandler({ getAccessToken: getToken });
  const throttle = new ThrottleRetryHandler(retry);
  const send = new TransportHandler(transport);
  return Client.initWithMiddleware({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    defaultVersion: 'v1.0',
    customHosts: new Set([new URL(baseUrl).hostname]),
    middleware: observe ? [auth, throttle, new ObservingHandler(observe), send] : [auth, throttle, send],
  });
}
