// One HTTP client for every call the product makes to an identity provider or Microsoft Graph:
// MSAL's network module, the Graph client's last middleware and jose's JWKS fetch all go through
// it. That is where the only two loopback adaptations live, as explicit options:
//   - `extraCa`: certificates trusted in addition to Node's bundled roots, for this client only
//     (a private CA; never a global TLS bypass);
//   - `plaintextOrigins`: https origins on loopback that are really served over plain HTTP by the
//     embedded dev tenant (`access-broker dev`). Only loopback origins are accepted.
// A real tenant uses neither; the code path is the same.

import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { AccessError } from './errors.js';
import { MAX_RESPONSE_BYTES } from './limits.js';

/** Default time a single identity/Graph call may take before it is abandoned. */
export const DEFAULT_HTTP_TIMEOUT_MS = 15_000;
/** Identity, Graph and broker answers are small; anything above this is refused rather than buffered (shared/limits.ts). */
export { MAX_RESPONSE_BYTES };

export interface HttpTransportOptions {
  /** PEM certificates to trust in addition to Node's bundled roots. Default: none. */
  extraCa?: readonly string[];
  /** Loopback https origins (e.g. `https://127.0.0.1:4780`) to reach over plain HTTP. Default: none. */
  plaintextOrigins?: readonly string[];
  /** Per-request timeout in milliseconds. Default: DEFAULT_HTTP_TIMEOUT_MS. */
  timeoutMs?: number;
  /** A client certificate (mutual TLS) presented to `origin` only, never to another host. Default: none. */
  clientCertificate?: { origin: string; cert: string; key: string } | null;
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Aborts the request (and the underlying socket) when signalled. */
  signal?: AbortSignal;
  /**
   * Sends the request on a new connection of its own rather than a kept-alive one, so a load
   * balancer chooses a backend for it afresh (a retry after a broker died). Default: false.
   */
  freshConnection?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]', '::1']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

export class HttpTransport {
  readonly #ca: string[] | undefined;
  readonly #plaintext: Set<string>;
  readonly #timeoutMs: number;
  readonly #clientCertificate: HttpTransportOptions['clientCertificate'];

  constructor(options: HttpTransportOptions = {}) {
    this.#clientCertificate = options.clientCertificate ?? null;
    this.#ca = options.extraCa?.length ? [...tls.rootCertificates, ...options.extraCa] : undefined;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    this.#plaintext = new Set();
    for (const origin of options.plaintextOrigins ?? []) {
      const url = new URL(origin);
      if (url.protocol !== 'https:' || !isLoopbackHost(url.hostname)) {
        throw new AccessError('config_invalid', `plain HTTP is only allowed for a loopback dev tenant, not for "${origin}"`);
      }
      this.#plaintext.add(url.origin);
    }
  }

  /** The URL actually dialled for `url` (only differs for a declared plaintext loopback origin). */
  wireUrl(url: string | URL): URL {
    const parsed = new URL(url);
    if (this.#plaintext.has(parsed.origin)) parsed.protocol = 'http:';
    return parsed;
  }

  request(url: string | URL, init: HttpRequest = {}): Promise<HttpResponse> {
    const target = this.wireUrl(url);
    const client = target.protocol === 'https:' ? https : http;
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    const headers: Record<string, string> = { ...init.headers };
    if (body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(body.length);
    }
    return new Promise((resolve, reject) => {
      const req = client.request(
        target,
        {
          method: init.method ?? 'GET',
          headers,
          timeout: this.#timeoutMs,
          ...(init.signal ? { signal: init.signal } : {}),
          ...(init.freshConnection ? { agent: false } : {}),
          ...(this.#ca && target.protocol === 'https:' ? { ca: this.#ca } : {}),
          ...(this.#clientCertificate && target.protocol === 'https:' && target.origin === new URL(this.#clientCertificate.origin).origin
            ? { cert: this.#clientCertificate.cert, key: this.#clientCertificate.key }
            : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              // Said as what it is (the connection was fine), so no caller reports it as unreachable.
              req.destroy(
                new AccessError(
                  'response_too_large',
                  `the answer from ${target.origin}${target.pathname} is larger than ${MAX_RESPONSE_BYTES} bytes, the most this client reads — ask for less at a time (a smaller --limit), or a newer client`,
                ),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            const flat: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
            }
            resolve({ status: res.statusCode ?? 0, headers: flat, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin} within ${this.#timeoutMs} ms`)));
      // Like fetch, an aborted request rejects with the signal's reason (e.g. a TimeoutError).
      req.on('error', (error) => reject(init.signal?.aborted ? (init.signal.reason as Error) : error));
      req.end(body);
    });
  }

  /** A WHATWG `fetch` over this transport, for libraries that take one (jose, the Graph client). */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = typeof input === 'string' || input instanceof URL ? input : input.url;
    const method = init.method ?? (input instanceof Request ? input.method : 'GET');
    const headers = Object.fromEntries(new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined)));
    let body: string | Uint8Array | undefined;
    if (typeof init.body === 'string') body = init.body;
    else if (init.body instanceof Uint8Array) body = init.body;
    else if (init.body instanceof URLSearchParams) body = init.body.toString();
    else if (init.body != null) body = new Uint8Array(await new Response(init.body).arrayBuffer());
    const signal = init.signal ?? undefined;
    const res = await this.request(url, { method, headers, ...(body === undefined ? {} : { body }), ...(signal ? { signal } : {}) });
    const noBody = res.status === 204 || res.status === 304 || method === 'HEAD';
    return new Response(noBody ? null : res.body, { status: res.status, headers: res.headers });
  };
}
