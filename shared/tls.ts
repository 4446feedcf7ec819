// TLS pieces the broker and the CLI share: reading PEM files with errors that name the file and
// the flag it came from, and what a refused certificate means in words a person can act on.

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { AccessError, type ErrorCode } from './errors.js';

/** A PEM file's part in the product, for messages: `what` reads like "the --ca file". */
export interface PemFileRole {
  what: string;
  /** The error code a problem with the file raises (usage for a flag, config_invalid for a remembered setting). */
  code: ErrorCode;
  /** What to do, appended after " — " when the file cannot be read. Default: "check the path". */
  hint?: string;
}

export interface PemCertificate {
  pem: string;
  x509: X509Certificate;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads a text file, or throws an AccessError naming it and saying why it could not be read. */
export async function readPemFile(file: string, role: PemFileRole): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(error));
    throw new AccessError(role.code, `cannot read ${role.what} "${file}": ${why} — ${role.hint ?? 'check the path'}`, { cause: error });
  }
}

/** Every PEM certificate in `text`; throws when there is none or one does not parse. */
export function parseCertificates(text: string, file: string, role: PemFileRole): PemCertificate[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new AccessError(
      role.code,
      `${role.what} "${file}" holds no PEM certificate (a block starting -----BEGIN CERTIFICATE-----) — give the certificate in PEM form`,
    );
  }
  return blocks.map((pem, index) => {
    try {
      return { pem, x509: new X509Certificate(pem) };
    } catch (error) {
      throw new AccessError(
        role.code,
        `certificate ${index + 1} in ${role.what} "${file}" cannot be parsed (${error instanceof Error ? error.message : String(error)}) — give the certificate in PEM form`,
        { cause: error },
      );
    }
  });
}

export async function readCertificates(file: string, role: PemFileRole): Promise<PemCertificate[]> {
  return parseCertificates(await readPemFile(file, role), file, role);
}

/** Node's bundled public roots plus `extra`: a TLS `ca` option replaces the roots, so they are listed too. */
export function withBundledRoots(extra: readonly string[]): string[] {
  return [...tls.rootCertificates, ...extra];
}

/**
 * Why a TLS handshake refused the peer's certificate, from the Node/OpenSSL error code:
 * `untrusted` — no trusted CA issued it (a private CA or a self-signed certificate not named);
 * `name` — it is valid, but not for the host dialled; `dates` — expired or not yet valid.
 * null: not a certificate verification failure.
 */
export type CertificateProblem = 'untrusted' | 'name' | 'dates';

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
]);

export function certificateProblem(error: unknown): CertificateProblem | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (!code) return null;
  if (UNTRUSTED.has(code)) return 'untrusted';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'name';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'dates';
  return null;
}

/** "CODE: message" of a TLS error, for the parenthesis of a message. */
export function tlsErrorText(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  return code && message && !message.includes(code) ? `${code}: ${message}` : (message ?? code ?? String(error));
}
