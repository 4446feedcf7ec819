// TLS for Postgres clients that insist on it (sslmode=require, verify-full; the default of many
// hosted-Postgres connection strings), terminated by `access connect` itself. The broker declines
// a client's SSLRequest so it can read the session, which such a client takes as "server does not
// support SSL". So the CLI's listener answers the client's SSLRequest with 'S', speaks TLS with it
// on the loopback, and sends the plaintext into the tunnel, which is itself TLS to the broker when
// the broker URL is https: the client gets the TLS it asks for and the broker still reads every query.
//
// The certificate is for localhost, 127.0.0.1 and ::1, issued by a CA made for this CLI state dir
// whose private key is thrown away once it signed (nothing else can ever be signed by it), kept
// in `$ACCESS_HOME/local-tls/` (0600 files in a 0700 directory) and renewed before it expires.
// The CA certificate's file is what `sslrootcert`/PGSSLROOTCERT names for verify-full; `access
// connect NAME -- CMD` sets PGSSLROOTCERT to it.
//
// A client that does not ask for TLS (sslmode=disable, or a GSSENCRequest answered 'N' here) is
// relayed as before, and a PostgreSQL 17 client that opens with TLS directly (sslnegotiation=direct)
// gets TLS too.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { ensurePrivateDir, writeFileAtomic } from '../state-dir.js';
import { type LocalEnd, socketEnd } from './relay.js';

/** The directory in the CLI state dir holding the local certificate. */
export const LOCAL_TLS_DIR = 'local-tls';
const BUNDLE_FILE = 'postgres.json';
const DAY_MS = 86_400_000;
/** The local certificate's life: long enough that `sslrootcert` in a saved connection string keeps working. */
export const LOCAL_CERT_VALIDITY_MS = 365 * DAY_MS;
/** A certificate with less than this left is replaced before use (a running client must not see it expire). */
export const LOCAL_CERT_RENEW_BEFORE_MS = 7 * DAY_MS;
/** The names a client may dial the listener by (verify-full checks the one it used). */
const LOCAL_NAMES = { dns: ['localhost'], ips: ['127.0.0.1', '::1'] } as const;
/**
 * How long the listener waits for a client's first bytes when they could still become an
 * encryption request. A Postgres client sends its 8-byte request at once; one that sends part of
 * it and stops is relayed as it is after this.
 */
export const NEGOTIATION_TIMEOUT_MS = 10_000;

// PostgreSQL's connection-opening request codes (broker/tunnel/postgres/codes.ts has the broker's side).
const REQUEST_BYTES = 8;
const SSL_REQUEST = request(80877103);
const GSSENC_REQUEST = request(80877104);
/** libpq sends GSSENCRequest, then SSLRequest after the 'N': at most this many before the startup. */
const MAX_REQUESTS = 2;
/** The first byte of a TLS handshake record: a client that starts TLS directly (PostgreSQL 17's sslnegotiation=direct). */
const TLS_HANDSHAKE = 0x16;
/** The ALPN protocol PostgreSQL 17 clients offer. */
const POSTGRES_ALPN = 'postgresql';

function request(code: number): Buffer {
  const bytes = Buffer.alloc(REQUEST_BYTES);
  bytes.writeInt32BE(REQUEST_BYTES, 0);
  bytes.writeInt32BE(code, 4);
  return bytes;
}

export interface LocalTls {
  /** The CA certificate file a client trusts for verify-full (sslrootcert / PGSSLROOTCERT). */
  caFile: string;
  /** The server side: the local certificate and its key. */
  context: tls.SecureContext;
}

interface Bundle {
  ca: string;
  cert: string;
  key: string;
}

/** The local certificate of the state dir `home`: read when it is good for another week, else made anew. */
export async function loadLocalTls(home: string, now: number): Promise<LocalTls> {
  const dir = path.join(home, LOCAL_TLS_DIR);
  await ensurePrivateDir(dir);
  const file = path.join(dir, BUNDLE_FILE);
  const stored = await readFile(file, 'utf8').then(
    (text) => usable(text, now),
    () => null,
  );
  const bundle = stored ?? (await issue(now));
  if (!stored) await writeFileAtomic(file, JSON.stringify(bundle));
  // Named by the CA's fingerprint: two `access connect`s renewing at once each point at their own CA.
  const fingerprint = new X509Certificate(bundle.ca).fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase();
  const caFile = path.join(dir, `ca-${fingerprint}.crt`);
  const caOnDisk = await readFile(caFile, 'utf8').catch(() => null);
  if (caOnDisk !== bundle.ca) await writeFileAtomic(caFile, bundle.ca);
  return { caFile, context: tls.createSecureContext({ cert: bundle.cert, key: bundle.key }) };
}

/** The stored bundle when it parses, its key fits, its CA issued it and it has a week left; else null. */
function usable(text: string, now: number): Bundle | null {
  try {
    const bundle = JSON.parse(text) as Partial<Bundle>;
    if (typeof bundle.ca !== 'string' || typeof bundle.cert !== 'string' || typeof bundle.key !== 'string') return null;
    const cert = new X509Certificate(bundle.cert);
    const ca = new X509Certificate(bundle.ca);
    const fresh = Date.parse(cert.validTo) - now > LOCAL_CERT_RENEW_BEFORE_MS && Date.parse(cert.validFrom) <= now;
    if (!fresh || !cert.checkIssued(ca) || !cert.verify(ca.publicKey) || !cert.checkPrivateKey(createPrivateKey(bundle.key))) return null;
    return { ca: bundle.ca, cert: bundle.cert, key: bundle.key };
  } catch {
    return null;
  }
}

/** A new CA and a loopback certificate it signs; the CA's key is dropped here. */
async function issue(now: number): Promise<Bundle> {
  // A day back: a clock a little behind ours still accepts the certificate.
  const notBeforeDate = new Date(now - DAY_MS);
  const notAfterDate = new Date(now + LOCAL_CERT_VALIDITY_MS);
  const ca = await generate([{ name: 'commonName', value: 'access connect local CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...LOCAL_NAMES.dns.map((value) => ({ type: 2 as const, value })), ...LOCAL_NAMES.ips.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  return { ca: ca.cert, cert: leaf.cert, key: leaf.private };
}

/**
 * The local end of one Postgres client connection (paused, as the listener accepted it): TLS
 * terminated here when the client asks for it, else the socket itself. Null when the client left
 * before saying anything, or `signal` aborted the wait. Never rejects.
 */
export async function postgresLocalEnd(
  socket: net.Socket,
  local: LocalTls,
  signal: AbortSignal | null = null,
  timeoutMs: number = NEGOTIATION_TIMEOUT_MS,
): Promise<LocalEnd | null> {
  for (let answered = 0; ; answered++) {
    const first = await firstBytes(socket, timeoutMs, signal);
    if (first === null) return null;
    // A client that says nothing for timeoutMs is relayed as it is (it waits for the server, so it is no Postgres client).
    if (first.length === 0) return socketEnd(socket);
    if (first[0] === TLS_HANDSHAKE) {
      socket.unshift(first);
      return secured(socket, local);
    }
    const head = first.subarray(0, REQUEST_BYTES);
    const rest = first.subarray(REQUEST_BYTES);
    if (answered < MAX_REQUESTS && head.equals(SSL_REQUEST)) {
      socket.write('S');
      // Anything after the request is the client's TLS already.
      if (rest.length > 0) socket.unshift(rest);
      return secured(socket, local);
    }
    if (answered < MAX_REQUESTS && head.equals(GSSENC_REQUEST) && rest.length === 0) {
      // No GSSAPI encryption here; libpq then asks for TLS (or starts in plaintext).
      socket.write('N');
      continue;
    }
    // The startup itself (or anything else): the broker reads it as before.
    socket.unshift(first);
    return socketEnd(socket);
  }
}

function secured(socket: net.Socket, local: LocalTls): LocalEnd {
  return socketEnd(serverTls(socket, local, [POSTGRES_ALPN]));
}

/** The server side of TLS on a client's socket, with the local certificate (mysql-local-end.ts too). */
export function serverTls(socket: net.Socket, local: LocalTls, alpn: string[]): tls.TLSSocket {
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: local.context, ...(alpn.length > 0 ? { ALPNProtocols: alpn } : {}) });
  // A client that fails the handshake (it does not trust the CA) errors the TLS socket: the relay,
  // which starts at once, ends the tunnel on it; this keeps an error before that from going unheard.
  secure.on('error', () => undefined);
  return secure;
}

/**
 * The client's first bytes: at least 8, or fewer once they can no longer be an encryption request
 * or the client stops sending for timeoutMs (then possibly none). Null when it ended before sending
 * any, or `signal` aborted.
 */
function firstBytes(socket: net.Socket, timeoutMs: number, signal: AbortSignal | null): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let have = Buffer.alloc(0);
    const finish = (value: Buffer | null): void => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      signal?.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = (): void => finish(null);
    if (signal?.aborted) {
      resolve(null);
      return;
    }
    signal?.addEventListener('abort', onAbort);
    const onReadable = (): void => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) have = Buffer.concat([have, chunk]);
      if (have.length >= REQUEST_BYTES || (have.length > 0 && !mayBecomeRequest(have))) finish(have);
    };
    const onEnd = (): void => finish(have.length > 0 ? have : null);
    const timer = setTimeout(() => finish(have), timeoutMs);
    timer.unref();
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

function mayBecomeRequest(head: Buffer): boolean {
  return head[0] === TLS_HANDSHAKE || head.equals(SSL_REQUEST.subarray(0, head.length)) || head.equals(GSSENC_REQUEST.subarray(0, head.length));
}
