// Calls to the broker's /v1 API. Broker errors arrive as `{ code, message }` and are rethrown as
// the same AccessError, so the CLI prints the broker's words and exits with the code's exit status.
// A 401 with a claims challenge (a resource's condition needs a stronger sign-in) carries the
// claims on the error; with a `stepUp`, the client signs in again with them and retries once.

import { parseClaimsChallenge } from '../shared/claims-challenge.js';
import { AccessError, isErrorCode } from '../shared/errors.js';
import type { HttpTransport } from '../shared/http-transport.js';
import { safeText } from '../shared/safe-text.js';

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
    return this.#call<T>('GET', path, undefined, options.signal);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  async #call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    try {
      return await this.#callOnce<T>(method, path, body, signal);
    } catch (error) {
      if (!this.#stepUp || !isClaimsChallenge(error)) throw error;
      await this.#stepUp(error);
      // Once: a second challenge means the new sign-in could not satisfy it either.
      return this.#callOnce<T>(method, path, body, signal);
    }
  }

  async #callOnce<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
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
      });
    } catch (error) {
      // Abandoned on purpose: not a broker problem to explain.
      if (signal?.aborted) throw error;
      // The broker answered, too much (response_too_large): not a reachability problem.
      if (error instanceof AccessError) throw error;
      const tlsFailure = this.#trust?.explain(error, this.baseUrl);
      if (tlsFailure) throw tlsFailure;
      const reason = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
      throw new AccessError(
        'broker_unreachable',
        `cannot reach the broker at ${this.baseUrl} (${reason}) — is it running? Check the URL, or pass --broker URL`,
        { cause: error },
      );
    }
    let parsed: unknown;
    try {
      parsed = res.body.length ? JSON.parse(res.body.toString('utf8')) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.status >= 200 && res.status < 300 && parsed !== undefined) return parsed as T;
    if (parsed && typeof parsed === 'object') {
      const { code, message } = parsed as { code?: unknown; message?: unknown };
      // The message quotes what was sent (an id, a name): one line, shown safely wherever it is printed.
      if (isErrorCode(code) && typeof message === 'string') {
        const claims = res.status === 401 ? parseClaimsChallenge(res.headers['www-authenticate']) : null;
        throw new AccessError(code, safeText(message), { claims });
      }
    }
    throw new AccessError(
      'broker_response_invalid',
      `${this.baseUrl} answered ${method} ${path} with HTTP ${res.status} and no usable body — is this an access broker URL?`,
    );
  }
}
