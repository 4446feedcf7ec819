// Calls to the broker's /v1 API. Broker errors arrive as `{ code, message }` and are rethrown as
// the same AccessError, so the CLI prints the broker's words and exits with the code's exit status.
// A 401 with a claims challenge (a resource's condition needs a stronger sign-in) carries the
// claims on the error; with a `stepUp`, the client signs in again with them and retries once.
// A call the broker did not answer (it died behind a load balancer) is tried again on a new
// connection when that cannot do it twice (broker-retry.ts).

import { parseClaimsChallenge } from '../shared/claims-challenge.js';
import { AccessError, type ErrorCode, isErrorCode } from '../shared/errors.js';
import type { HttpTransport } from '../shared/http-transport.js';
import { safeText } from '../shared/safe-text.js';
import { answerFailure, backoffMs, type CallFailure, connectionFailure, describeFailures, isRepeatable, pause, shouldRetry } from './broker-retry.js';

export type TokenSource = () => Promise<string>;

/** Signs in again to satisfy the claims of `refusal` (a claims challenge), so the call can be retried. */
export type StepUp = (refusal: AccessError & { claims: string }) => Promise<void>;

/** Whether `error` is a broker refusal carrying a claims challenge. */
export function isClaimsChallenge(error: unknown): error is AccessError & { claims: string } {
  return error instanceof AccessError && error.claims !== null;
}

/** Turns a failed connection into the error a person can act on, when it is about TLS (cli/broker-trust.ts). */
export interface ConnectFailureExplainer {
  explain(error: unknown, url: string): AccessError | null;
}

interface Call {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  signal?: AbortSignal;
  /** For a call that acts: what may or may not have happened when it got no answer, and how to see which. */
  ifUnsure?: string;
}

/** The broker's `{code, message}` refusal in a parsed body, if that is what it is. */
function brokerRefusal(parsed: unknown): { code: ErrorCode; message: string } | null {
  if (!parsed || typeof parsed !== 'object') return null;
  const { code, message } = parsed as { code?: unknown; message?: unknown };
  return isErrorCode(code) && typeof message === 'string' ? { code, message } : null;
}

function unreachable(baseUrl: string, what: string, cause?: unknown): AccessError {
  return new AccessError('broker_unreachable', `cannot reach the broker at ${baseUrl} (${what}) — is it running? Check the URL, or pass --broker URL`, {
    cause,
  });
}

export class BrokerClient {
  readonly baseUrl: string;
  readonly #transport: HttpTransport;
  readonly #token: TokenSource | null;
  readonly #trust: ConnectFailureExplainer | null;
  readonly #stepUp: StepUp | null;

  constructor(
    baseUrl: string,
    transport: HttpTransport,
    token: TokenSource | null = null,
    trust: ConnectFailureExplainer | null = null,
    stepUp: StepUp | null = null,
  ) {
    this.baseUrl = baseUrl;
    this.#transport = transport;
    this.#token = token;
    this.#trust = trust;
    this.#stepUp = stepUp;
  }

  /** `signal` abandons the call (and its socket), e.g. a long poll cut short by Ctrl-C; it rejects with the signal's reason. */
  get<T>(path: string, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.#call<T>({ method: 'GET', path, ...(options.signal ? { signal: options.signal } : {}) });
  }

  /**
   * A call that acts. It is sent again only when it surely reached no broker (broker-retry.ts); when
   * the connection fails after it may have, the error says `ifUnsure`: what may or may not have
   * happened and how to see which, e.g. "the request may or may not have been created — `access
   * requests` shows whether it was".
   */
  post<T>(path: string, body: unknown, ifUnsure: string): Promise<T> {
    return this.#call<T>({ method: 'POST', path, body, ifUnsure });
  }

  async #call<T>(call: Call): Promise<T> {
    try {
      return await this.#attempts<T>(call);
    } catch (error) {
      if (!this.#stepUp || !isClaimsChallenge(error)) throw error;
      await this.#stepUp(error);
      // Once: a second challenge means the new sign-in could not satisfy it either.
      return this.#attempts<T>(call);
    }
  }

  /** The call, tried again while the broker (or the balancer in front) fails it in a way another broker may not. */
  async #attempts<T>(call: Call): Promise<T> {
    const failures: CallFailure[] = [];
    for (let attempt = 1; ; attempt += 1) {
      // Each retry on a connection of its own, so a balancer can send it to another broker.
      const result = await this.#callOnce<T>(call, attempt > 1);
      if ('value' in result) return result.value;
      failures.push(result.failure);
      if (!shouldRetry(call.method, result.failure, attempt)) throw this.#failed(call, failures);
      await pause(backoffMs(attempt), call.signal);
    }
  }

  /** The one error for a call that got no answer: where, what happened on each attempt, and what to do. */
  #failed(call: Call, failures: readonly CallFailure[]): AccessError {
    const last = failures.at(-1);
    const what = describeFailures(failures);
    if (last?.mayHaveReachedBroker && !isRepeatable(call.method)) {
      return new AccessError(
        'broker_unreachable',
        `the broker at ${this.baseUrl} did not answer ${call.method} ${call.path} (${what}): ${call.ifUnsure ?? 'it may or may not have been done'}. Check before you try again.`,
      );
    }
    return unreachable(this.baseUrl, what);
  }

  async #callOnce<T>(call: Call, freshConnection: boolean): Promise<{ value: T } | { failure: CallFailure }> {
    const { method, path, body, signal } = call;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${await this.#token()}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await this.#transport.request(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal ? { signal } : {}),
        ...(freshConnection ? { freshConnection } : {}),
      });
    } catch (error) {
      // Abandoned on purpose: not a broker problem to explain.
      if (signal?.aborted) throw error;
      // The broker answered, too much (response_too_large): not a reachability problem.
      if (error instanceof AccessError) throw error;
      const tlsFailure = this.#trust?.explain(error, this.baseUrl);
      if (tlsFailure) throw tlsFailure;
      const code = (error as NodeJS.ErrnoException).code;
      const failure = connectionFailure(code);
      if (failure) return { failure };
      const reason = code ?? (error instanceof Error ? error.message : String(error));
      throw unreachable(this.baseUrl, reason, error);
    }
    let parsed: unknown;
    try {
      parsed = res.body.length ? JSON.parse(res.body.toString('utf8')) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.status >= 200 && res.status < 300 && parsed !== undefined) return { value: parsed as T };
    const refusal = brokerRefusal(parsed);
    const failure = answerFailure(res.status, refusal?.code ?? null);
    if (failure) return { failure };
    if (refusal) {
      // The message quotes what was sent (an id, a name): one line, shown safely wherever it is printed.
      const claims = res.status === 401 ? parseClaimsChallenge(res.headers['www-authenticate']) : null;
      throw new AccessError(refusal.code, safeText(refusal.message), { claims });
    }
    throw new AccessError(
      'broker_response_invalid',
      `${this.baseUrl} answered ${method} ${path} with HTTP ${res.status} and no usable body — is this an access broker URL?`,
    );
  }
}
