// TLS from the broker to a Postgres server (`targetTls: require | verify-full`), set up right after
// the dial and before the tunnel's WebSocket exists, so a failure is an HTTP error naming the cause.
// The Postgres way: send SSLRequest on the plain connection, read the one-byte answer, and on 'S'
// run the TLS handshake over the same socket; the client's StartupMessage then goes inside TLS.

import net from 'node:net';
import tls from 'node:tls';
import { formatDuration } from '../../../shared/duration.js';
import { AccessError } from '../../../shared/errors.js';
import { formatTarget } from '../../config/target.js';
import type { ResourcePolicy } from '../../config/types.js';
import { describeSocketError } from '../dial.js';
import type { PrepareTargetOptions } from '../protocol.js';
import { ENCRYPTION_DECLINED, NEGOTIATION_REQUEST_BYTES, SSL_ACCEPTED, SSL_REQUEST_CODE } from './codes.js';

const SSL_REQUEST = Buffer.alloc(NEGOTIATION_REQUEST_BYTES);
SSL_REQUEST.writeInt32BE(NEGOTIATION_REQUEST_BYTES, 0);
SSL_REQUEST.writeInt32BE(SSL_REQUEST_CODE, 4);

type TlsPolicy = Pick<ResourcePolicy, 'name' | 'target' | 'targetTls' | 'targetCa'>;

/**
 * Returns `socket` itself for `targetTls: disable`, else a TLS socket over it once the handshake
 * (and, for verify-full, the certificate and host name checks) succeeded. Rejects with
 * `target_tls_failed`; the plain socket is destroyed on failure.
 */
export async function secureTarget(socket: net.Socket, policy: TlsPolicy, options: PrepareTargetOptions): Promise<net.Socket> {
  // TLS only when the resource asks for it by name; anything else (disable) is the plain socket.
  if (policy.targetTls !== 'require' && policy.targetTls !== 'verify-full') return socket;
  const fail = failure(policy);
  // A timeout or an abort destroys the socket; the step under way then fails, and this says why.
  let stopped: AccessError | null = null;
  const stop = (why: string): void => {
    stopped = fail(why);
    socket.destroy();
  };
  const timer = setTimeout(() => stop(`no TLS within ${formatDuration(options.timeoutMs)}`), options.timeoutMs);
  const onAbort = (): void => stop('the client went away while the broker was setting up TLS');
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal.aborted) onAbort();
    await askForTls(socket, fail);
    return await handshake(socket, policy, fail);
  } catch (error) {
    socket.destroy();
    throw stopped ?? (error instanceof AccessError ? error : fail(String(error), error));
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
  }
}

type Fail = (why: string, cause?: unknown) => AccessError;

function failure(policy: TlsPolicy): Fail {
  const where = formatTarget(policy.target);
  return (why, cause) =>
    new AccessError(
      'target_tls_failed',
      `The broker cannot set up TLS (targetTls: ${policy.targetTls}) to ${policy.name}'s target ${where}: ${why}. ` +
        'Check that the database has ssl = on and a certificate the broker trusts (targetCa), or tell whoever runs it.',
      { cause },
    );
}

/** Sends SSLRequest and reads the answer: exactly one byte, 'S'. */
function askForTls(socket: net.Socket, fail: Fail): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      settle();
      // Nothing else is read until the TLS socket takes over.
      socket.pause();
      if (chunk[0] === ENCRYPTION_DECLINED) {
        reject(fail('the database answered that it does not support SSL'));
      } else if (chunk[0] !== SSL_ACCEPTED) {
        reject(
          fail(
            `the target answered the SSLRequest with byte 0x${(chunk[0] ?? 0).toString(16).padStart(2, '0')} instead of 'S' or 'N' (is it a PostgreSQL server?)`,
          ),
        );
      } else if (chunk.length > 1) {
        // Bytes after the 'S' were not sent inside TLS: someone on the path may be injecting them (CVE-2021-23222).
        reject(fail('the database sent unencrypted bytes after accepting SSL; refused'));
      } else {
        resolve();
      }
    };
    const onError = (error: Error): void => {
      settle();
      reject(fail(describeSocketError(error), error));
    };
    const onClose = (): void => {
      settle();
      reject(fail('the database closed the connection instead of answering the SSLRequest'));
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.write(SSL_REQUEST);
  });
}

function handshake(socket: net.Socket, policy: TlsPolicy, fail: Fail): Promise<tls.TLSSocket> {
  const verify = policy.targetTls === 'verify-full';
  const host = policy.target.host;
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const secure = tls.connect({
      socket,
      // SNI takes host names only; the identity check below uses `host` either way.
      ...(net.isIP(host) ? {} : { servername: host }),
      host,
      rejectUnauthorized: verify,
      ...(verify && policy.targetCa ? { ca: policy.targetCa.pem } : {}),
    });
    const onError = (error: Error): void => {
      secure.off('close', onClose);
      secure.destroy();
      reject(fail(tlsReason(error, policy), error));
    };
    const onClose = (): void => {
      secure.off('error', onError);
      reject(fail('the database closed the connection during the TLS handshake'));
    };
    secure.once('error', onError);
    secure.once('close', onClose);
    secure.once('secureConnect', () => {
      secure.off('error', onError);
      secure.off('close', onClose);
      resolve(secure);
    });
  });
}

/** The TLS error in words, with the CA the certificate was checked against. */
function tlsReason(error: Error, policy: TlsPolicy): string {
  const code = (error as NodeJS.ErrnoException).code;
  const against = policy.targetCa ? `the CA in ${policy.targetCa.file}` : "the system's trusted CAs";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `its certificate is not for ${policy.target.host} (${error.message})`;
  if (code && /CERT|SIGNATURE|ISSUER/.test(code)) return `its certificate does not verify against ${against} (${code}: ${error.message})`;
  return describeSocketError(error);
}
