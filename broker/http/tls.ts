// The broker's listener, plain HTTP or HTTPS/WSS on one port, for `access-broker dev` and `serve`
// alike. With `--tls-cert FILE --tls-key FILE` the certificate and key are checked once at start
// (readable, a matching pair, in date, issued by `--tls-ca` when one is named), so a wrong file is
// refused with its name instead of being discovered by the first client's failed handshake.

import { createPrivateKey, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { AccessError } from '../../shared/errors.js';
import { certificateProblem, readCertificates, readPemFile, tlsErrorText, withBundledRoots, type PemCertificate, type PemFileRole } from '../../shared/tls.js';

export interface TlsFiles {
  /** PEM certificate chain, the broker's own certificate first (`--tls-cert`). */
  certFile: string;
  /** The unencrypted PEM private key of that certificate (`--tls-key`). */
  keyFile: string;
  /**
   * PEM certificate(s) of the CA that issued it (`--tls-ca`, dev only): the dev broker trusts it for
   * the calls it makes to its own tenant. Default: none — the certificate itself when self-signed,
   * else Node's bundled public roots.
   */
  caFile?: string | null;
}

export interface BrokerTls {
  files: TlsFiles;
  /** The chain as read, served to clients. */
  cert: string;
  /** The private key as read (PEM). */
  key: string;
  chain: PemCertificate[];
  /** Certificates beyond the public roots that verify this broker: the CA file's, or the self-signed certificate. */
  trust: string[];
  /** The file a client names with `access login --ca`: the CA file, the self-signed certificate, or null (a public CA). */
  trustFile: string | null;
}

const CERT_ROLE: PemFileRole = { what: 'the --tls-cert file', code: 'config_invalid' };
const KEY_ROLE: PemFileRole = { what: 'the --tls-key file', code: 'config_invalid' };
const CA_ROLE: PemFileRole = { what: 'the --tls-ca file', code: 'config_invalid' };

/** How long the start-up self-check may take to complete a handshake with the broker's own listener. */
const SELF_CHECK_TIMEOUT_MS = 5_000;

export async function loadBrokerTls(files: TlsFiles, now: number = Date.now()): Promise<BrokerTls> {
  const chain = await readCertificates(files.certFile, CERT_ROLE);
  const leaf = (chain[0] as PemCertificate).x509;
  const keyText = await readPemFile(files.keyFile, KEY_ROLE);
  if (!leaf.checkPrivateKey(privateKey(keyText, files.keyFile))) {
    throw new AccessError(
      'config_invalid',
      `the private key in "${files.keyFile}" (--tls-key) does not belong to the certificate in "${files.certFile}" (--tls-cert, ${leaf.subject.replace(/\n/g, ', ')}) — pass the key the certificate was issued for`,
    );
  }
  if (Date.parse(leaf.validTo) < now) {
    throw new AccessError('config_invalid', `the certificate in "${files.certFile}" (--tls-cert) expired on ${leaf.validTo} — renew it`);
  }
  if (Date.parse(leaf.validFrom) > now) {
    throw new AccessError(
      'config_invalid',
      `the certificate in "${files.certFile}" (--tls-cert) is not valid before ${leaf.validFrom} — check it, or this machine's clock`,
    );
  }
  const cert = chain.map((c) => c.pem).join('\n');
  try {
    // What OpenSSL itself will say about the pair, now rather than at the first handshake.
    tls.createSecureContext({ cert, key: keyText });
  } catch (error) {
    throw new AccessError(
      'config_invalid',
      `cannot serve TLS with "${files.certFile}" and "${files.keyFile}": ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return { files, cert, key: keyText, chain, ...(await trustOf(files, chain)) };
}

/** What verifies this certificate beyond the public roots: the named CA (checked to be the issuer), or the certificate itself when self-signed. */
async function trustOf(files: TlsFiles, chain: PemCertificate[]): Promise<Pick<BrokerTls, 'trust' | 'trustFile'>> {
  const top = (chain.at(-1) as PemCertificate).x509;
  if (files.caFile) {
    const ca = await readCertificates(files.caFile, CA_ROLE);
    const issued = ca.some((c) => c.x509.fingerprint256 === top.fingerprint256 || (top.checkIssued(c.x509) && top.verify(c.x509.publicKey)));
    if (!issued) {
      throw new AccessError(
        'config_invalid',
        `the certificate in "${files.certFile}" (--tls-cert) was not issued by the CA in "${files.caFile}" (--tls-ca): its issuer is ${top.issuer.replace(/\n/g, ', ')} — pass the CA that issued it`,
      );
    }
    return { trust: ca.map((c) => c.pem), trustFile: files.caFile };
  }
  // Not checkIssued: OpenSSL refuses a leaf as its own issuer when its key usage lacks keyCertSign.
  const selfSigned = chain.length === 1 && top.issuer === top.subject && top.verify(top.publicKey);
  return selfSigned ? { trust: [chain[0]?.pem as string], trustFile: files.certFile } : { trust: [], trustFile: null };
}

function privateKey(text: string, file: string): KeyObject {
  try {
    return createPrivateKey(text);
  } catch (error) {
    throw new AccessError(
      'config_invalid',
      `the --tls-key file "${file}" holds no usable private key (${error instanceof Error ? error.message : String(error)}) — give the unencrypted PEM key of the certificate`,
      { cause: error },
    );
  }
}

/** The listener: HTTPS (and WSS on `upgrade`) with `tls`, else plain HTTP. */
/**
 * `clientCa` (config tls.clientCa): ask every client for a certificate and verify it against this CA.
 * The handshake goes on without one (rejectUnauthorized false) so that the broker can answer with a
 * coded refusal (http/client-certificate.ts) instead of a TLS alert the client cannot explain.
 */
export function createListener(tlsConfig: BrokerTls | null, clientCa: string | null = null): http.Server {
  if (!tlsConfig) {
    if (clientCa) throw clientCaWithoutTls();
    return http.createServer();
  }
  return https.createServer({
    cert: tlsConfig.cert,
    key: tlsConfig.key,
    ...(clientCa ? { requestCert: true, rejectUnauthorized: false, ca: [clientCa] } : {}),
  });
}

/** The client CA the listener asks certificates of (config tls.clientCa), refused at start without TLS to ask them over. */
export function clientCaOf(config: { tls?: { clientCa: { pem: string } } } | null, tlsConfig: BrokerTls | null): string | null {
  const clientCa = config?.tls?.clientCa.pem ?? null;
  if (clientCa && !tlsConfig) throw clientCaWithoutTls();
  return clientCa;
}

function clientCaWithoutTls(): AccessError {
  return new AccessError(
    'config_invalid',
    'tls.clientCa asks clients for certificates, which needs the broker to serve TLS: pass --tls-cert FILE and --tls-key FILE',
  );
}

/** `https://127.0.0.1:4780` (or `http://…`) for the address a listener is bound to. */
export function listenerOrigin(address: AddressInfo, scheme: 'http' | 'https'): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

/**
 * Dials `origin` trusting exactly what the broker's own HTTP client trusts (the public roots plus
 * `tls.trust`) and refuses to start when the handshake fails: `access-broker dev` reaches its own
 * tenant (JWKS, Graph, client credentials) at that origin, so a certificate that does not name the
 * listening address, or whose CA the broker was not given, would otherwise fail every sign-in later
 * with a far vaguer error.
 */
export async function checkServesOwnOrigin(origin: string, tlsConfig: BrokerTls): Promise<void> {
  const url = new URL(origin);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const error = await new Promise<Error | null>((resolve) => {
    const socket = tls.connect({ host, port: Number(url.port), ca: withBundledRoots(tlsConfig.trust), timeout: SELF_CHECK_TIMEOUT_MS });
    socket.once('secureConnect', () => {
      socket.end();
      resolve(null);
    });
    socket.once('timeout', () => socket.destroy(new Error(`no TLS handshake within ${SELF_CHECK_TIMEOUT_MS} ms`)));
    socket.once('error', resolve);
  });
  if (!error) return;
  const { certFile } = tlsConfig.files;
  const problem = certificateProblem(error);
  if (problem === 'name') {
    const names = tlsConfig.chain[0]?.x509.subjectAltName ?? '(no subject alternative names)';
    throw new AccessError(
      'config_invalid',
      `the certificate in "${certFile}" (--tls-cert) is for ${names}, not ${host} where the dev broker listens (${origin}) — issue it for ${host} too, or listen on a name it covers with --host`,
    );
  }
  if (problem === 'untrusted') {
    throw new AccessError(
      'config_invalid',
      `the dev broker cannot verify its own certificate "${certFile}" (${tlsErrorText(error)}); it reaches its dev tenant at ${origin} itself — pass the CA that issued the certificate with --tls-ca FILE`,
    );
  }
  throw new AccessError(
    'config_invalid',
    `the dev broker cannot complete a TLS handshake with itself at ${origin} using "${certFile}": ${tlsErrorText(error)}`,
    { cause: error },
  );
}
