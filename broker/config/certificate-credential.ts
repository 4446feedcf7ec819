// The certificate an app proves itself with (`graph.credential: { kind: certificate, file }`): a
// PEM file holding the certificate registered on the app and its unencrypted private key, as
// `az ad app credential reset --create-cert` writes it. Read and checked at start, so a wrong file
// stops the broker with a reason instead of failing its first Graph call with an AADSTS number.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A certificate and its key are a few kilobytes; anything this large is the wrong file. */
export const MAX_CERTIFICATE_FILE_BYTES = 1024 * 1024;

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const PRIVATE_KEY_BLOCK = /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END \1?PRIVATE KEY-----/;
/** PKCS#12 bundles: Node reads no PFX key out of them, so people are told how to convert one. */
const PFX_EXTENSIONS = /\.(pfx|p12)$/i;

export interface CertificateCredential {
  /** Hex SHA-256 thumbprint of the DER certificate (MSAL sends it as the `x5t#S256` header). */
  thumbprintSha256: string;
  /** The private key as PKCS#8 PEM, what MSAL signs the client assertion with. */
  privateKey: string;
  /** The certificate as PEM (MSAL sends it as `x5c`, which lets Entra accept subject-name/issuer registration). */
  certificatePem: string;
}

/** Reads `file` into a credential, or the reason it cannot be one (worded for `FILE:LINE key: reason`). */
export function readCertificateCredential(file: string, now: number): CertificateCredential | { problem: string } {
  if (PFX_EXTENSIONS.test(file)) {
    return {
      problem: `${file} is a PFX/PKCS#12 bundle, which the broker does not read — convert it to PEM: openssl pkcs12 -in ${file} -out graph-app.pem -nodes (then keep graph-app.pem readable only by the broker)`,
    };
  }
  let text: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_CERTIFICATE_FILE_BYTES)
      return { problem: `${file} is ${bytes.length} bytes, too large for a certificate and key (at most ${MAX_CERTIFICATE_FILE_BYTES})` };
    text = bytes.toString('utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : error instanceof Error ? error.message : String(error);
    return { problem: `cannot read ${file}: ${why}` };
  }
  const certificateText = CERTIFICATE_BLOCK.exec(text)?.[0];
  const keyMatch = PRIVATE_KEY_BLOCK.exec(text);
  if (!certificateText)
    return { problem: `${file} holds no certificate (-----BEGIN CERTIFICATE-----) — put the app's certificate and its private key in one PEM file` };
  if (!keyMatch) return { problem: `${file} holds no private key (-----BEGIN PRIVATE KEY-----) — put the certificate's private key in the same PEM file` };
  if (keyMatch[1] === 'ENCRYPTED ')
    return {
      problem: `the private key in ${file} is encrypted — decrypt it (openssl pkey -in ${file} -out key.pem) and keep the file readable only by the broker`,
    };

  let certificate: X509Certificate;
  let key: KeyObject;
  try {
    certificate = new X509Certificate(certificateText);
    key = createPrivateKey(keyMatch[0]);
  } catch (error) {
    return { problem: `${file} does not parse: ${error instanceof Error ? error.message : String(error)}` };
  }
  // Entra signs-in apps with RSA certificates only, and MSAL signs the assertion with RS256/PS256.
  if (key.asymmetricKeyType !== 'rsa')
    return { problem: `the key in ${file} is ${key.asymmetricKeyType ?? 'not an asymmetric key'}, but Entra app certificates must be RSA` };
  if (!certificate.checkPrivateKey(key))
    return { problem: `the private key in ${file} does not belong to its certificate (${certificate.subject}) — use the key the certificate was made with` };
  const notAfter = Date.parse(certificate.validTo);
  if (notAfter <= now)
    return {
      problem: `the certificate in ${file} expired on ${certificate.validTo} — create a new one and register it on the app (az ad app credential reset --cert)`,
    };
  return {
    thumbprintSha256: certificate.fingerprint256.replaceAll(':', '').toLowerCase(),
    privateKey: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
    certificatePem: certificateText,
  };
}
