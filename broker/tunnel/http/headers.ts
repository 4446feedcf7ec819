// The headers the broker sends a target for one request of an `http` resource: the client's, less
// what only describes the client's own connection (hop-by-hop, RFC 9110 §7.6.1) and less every
// `X-Access-*` header the client sent (anyone can set those: the target must only ever see the
// broker's), then the Host the target expects and the identity the broker vouches for. Pure: no
// I/O, so the rules are tested as a table.

/** Headers the broker sets; a client's copy of any `x-access-*` header is dropped before these are added. */
export const IDENTITY_HEADERS = {
  /** The person's user principal name (display), or their object id when the token had none. */
  user: 'x-access-user',
  /** The person's Entra object id: the stable key a target should use. */
  userId: 'x-access-user-id',
  resource: 'x-access-resource',
  /** The tunnel session: `access audit show SESSION` lists this request in it. */
  session: 'x-access-session',
  /** The grant (access request) the request is made under. */
  grant: 'x-access-grant',
  /** A short-lived JWT the broker signed over the above (tunnel/http/identity-token.ts). */
  token: 'x-access-token',
} as const;

/**
 * A client's header that could pass for one of the broker's: `X-Access-*`, and `X_Access_*` too, which
 * CGI-style servers (WSGI, PHP, Rack) read as the same HTTP_X_ACCESS_* variable.
 */
const CLIENT_FORGEABLE = /^x[-_]access[-_]/i;

/** Per connection, never forwarded (RFC 9110 §7.6.1), plus the obsolete Proxy-Connection. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization']);

/** Who the broker vouches for on one request. */
export interface RequestIdentity {
  oid: string;
  upn: string | null;
  resource: string;
  session: string;
  grant: string;
  /** The signed token, or null when the resource does not ask for one. */
  token: string | null;
}

/**
 * What Host the target sees: `target` (default) its own host:port, `client` the one the client sent
 * (the name in the browser's address bar: 127.0.0.1:PORT), or a literal name.
 */
export type HostHeaderRule = { kind: 'target' } | { kind: 'client' } | { kind: 'literal'; value: string };

export interface ForwardOptions {
  host: HostHeaderRule;
  /** The target's "host:port" for the default rule. */
  targetHost: string;
  /** Keep Connection/Upgrade (a WebSocket handshake being forwarded). */
  upgrade: boolean;
}

/**
 * The request headers for the target, as a raw [name, value, name, value…] list (case and order
 * kept, repeated headers kept apart). `rawHeaders` is IncomingMessage#rawHeaders.
 */
export function forwardedRequestHeaders(rawHeaders: readonly string[], identity: RequestIdentity, options: ForwardOptions): string[] {
  // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
  const named = new Set<string>();
  let clientHost: string | null = null;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    if (name === 'connection') for (const token of value.split(',')) named.add(token.trim().toLowerCase());
    if (name === 'host' && clientHost === null) clientHost = value;
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (lower === 'host' || CLIENT_FORGEABLE.test(lower)) continue;
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  const host = options.host.kind === 'client' ? (clientHost ?? options.targetHost) : options.host.kind === 'literal' ? options.host.value : options.targetHost;
  out.unshift('Host', host);
  if (options.upgrade) {
    const upgrade = headerValue(rawHeaders, 'upgrade');
    if (upgrade !== null) out.push('Connection', 'Upgrade', 'Upgrade', upgrade);
  }
  if (options.host.kind !== 'client' && clientHost !== null) out.push('X-Forwarded-Host', clientHost);
  out.push(...identityHeaders(identity));
  return out;
}

/** The identity headers as a raw [name, value…] list (lower case: valid as HTTP/2 headers and gRPC metadata). */
export function identityHeaders(identity: RequestIdentity): string[] {
  const out = [
    IDENTITY_HEADERS.user,
    identity.upn ?? identity.oid,
    IDENTITY_HEADERS.userId,
    identity.oid,
    IDENTITY_HEADERS.resource,
    identity.resource,
    IDENTITY_HEADERS.session,
    identity.session,
    IDENTITY_HEADERS.grant,
    identity.grant,
  ];
  if (identity.token !== null) out.push(IDENTITY_HEADERS.token, identity.token);
  return out;
}

/**
 * The HTTP/2 headers of a gRPC call for the target (its metadata): the client's, less pseudo-headers
 * (set anew), connection-specific ones and every client-sent `x-access-*`, then :authority by the
 * Host rule and the identity. `headers` is the server stream's header object.
 */
export function forwardedGrpcHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  identity: RequestIdentity,
  options: ForwardOptions,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || CLIENT_FORGEABLE.test(name) || HOP_BY_HOP.has(name) || name === 'host') continue;
    out[name] = value;
  }
  // The one TE HTTP/2 allows, which gRPC servers read to detect proxies that would drop trailers.
  if (headers.te === 'trailers') out.te = 'trailers';
  const clientAuthority = typeof headers[':authority'] === 'string' ? headers[':authority'] : null;
  out[':method'] = typeof headers[':method'] === 'string' ? headers[':method'] : 'POST';
  out[':path'] = typeof headers[':path'] === 'string' ? headers[':path'] : '/';
  out[':scheme'] = 'http';
  out[':authority'] =
    options.host.kind === 'client' ? (clientAuthority ?? options.targetHost) : options.host.kind === 'literal' ? options.host.value : options.targetHost;
  const pairs = identityHeaders(identity);
  for (let i = 0; i + 1 < pairs.length; i += 2) out[pairs[i] as string] = pairs[i + 1] as string;
  return out;
}

/** The response headers for the client: the target's, less hop-by-hop ones (the broker's server sets its own). */
export function forwardedResponseHeaders(rawHeaders: readonly string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === 'connection') {
      for (const token of (rawHeaders[i + 1] as string).split(',')) named.add(token.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lower = (rawHeaders[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push(rawHeaders[i] as string, rawHeaders[i + 1] as string);
  }
  return out;
}

/** The first value of header `name` (lower case) in a raw list, or null. */
export function headerValue(rawHeaders: readonly string[], name: string): string | null {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === name) return rawHeaders[i + 1] as string;
  }
  return null;
}

/**
 * Whether a request target may be forwarded: origin-form ("/path?query"), or "*" for OPTIONS. An
 * absolute URL or an authority (CONNECT's form) would ask the target to act as a proxy elsewhere.
 */
export function isOriginForm(method: string, target: string): boolean {
  return target.startsWith('/') || (method === 'OPTIONS' && target === '*');
}

/** The only upgrade passed through: WebSocket. Anything else (h2c above all) would carry requests the broker cannot read. */
export function isWebSocketUpgrade(upgrade: string | null): boolean {
  return upgrade !== null && upgrade.trim().toLowerCase() === 'websocket';
}

/** The Host rule of a resource's `hostHeader` setting (absent: the target's). */
export function hostHeaderRule(setting: string | null | undefined): HostHeaderRule {
  if (!setting || setting === 'target') return { kind: 'target' };
  if (setting === 'client') return { kind: 'client' };
  return { kind: 'literal', value: setting };
}
