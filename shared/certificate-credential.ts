// The certificate an app proves itself with (the broker's `graph.credential: { kind: certificate, file }`,
// a workload's `access login --service-principal --certificate FILE`): a
// PEM file holding the certificate registered on the app and its unencrypted private key, as
// `az ad app credential reset --create-cert` writes it, or a PFX/PKCS#12 bundle (as Key Vault and
// Windows export one) opened with the password from `passwordEnv`. Read and checked at start, so a
// wrong file stops the broker with a reason instead of failing its first Graph call with an AADSTS number.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** A certificate and its key are a few kilobytes; anything this large is the wrong file. */
export const MAX_CERTIFICATE_FILE_BYTES = 1024 * 1024;

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const PRIVATE_KEY_BLOCK = /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END \1?PRIVATE KEY-----/;

/** The password a PFX file is opened with: the value, and the variable it came from (null: none named, so empty). */
export interface PfxPassword {
  value: string;
  env: string | null;
}

export interface CertificateCredential {
  /** Hex SHA-256 thumbprint of the DER certificate (MSAL sends it as the `x5t#S256` header). */
  thumbprintSha256: string;
  /** The private key as PKCS#8 PEM, what MSAL signs the client assertion with. */
  privateKey: string;
  /** The certificate as PEM (MSAL sends it as `x5c`, which lets Entra accept subject-name/issuer registration). */
  certificatePem: string;
}

/**
 * Reads `file` into a credential, or the reason it cannot be one (worded for `FILE:LINE key: reason`).
 * A PFX file is told from PEM by its content (DER PKCS#12), not its name.
 */
export function readCertificateCredential(
  file: string,
  now: number,
  password: PfxPassword = { value: '', env: null },
): CertificateCredential | { problem: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : error instanceof Error ? error.message : String(error);
    return { problem: `cannot read ${file}: ${why}` };
  }
  if (bytes.length > MAX_CERTIFICATE_FILE_BYTES)
    return { problem: `${file} is ${bytes.length} bytes, too large for a certificate and key (at most ${MAX_CERTIFICATE_FILE_BYTES})` };
  if (isPkcs12(bytes)) {
    const opened = openPfx(file, bytes, password);
    return 'problem' in opened ? opened : checkedCredential(file, opened.certificates, opened.key, now);
  }
  if (password.env !== null) return { problem: `${file} is PEM, which has no password — remove passwordEnv (it is for PFX/PKCS#12 files only)` };
  return readPem(file, bytes.toString('utf8'), now);
}

function readPem(file: string, text: string, now: number): CertificateCredential | { problem: string } {
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
  return checkedCredential(file, [certificate], key, now);
}

/**
 * The checks every certificate file passes, whatever its format: an RSA key, a certificate it
 * belongs to (the first such of `certificates`, the others sent after it as its chain), in date.
 */
function checkedCredential(file: string, certificates: X509Certificate[], key: KeyObject, now: number): CertificateCredential | { problem: string } {
  // Entra signs-in apps with RSA certificates only, and MSAL signs the assertion with RS256/PS256.
  if (key.asymmetricKeyType !== 'rsa')
    return { problem: `the key in ${file} is ${key.asymmetricKeyType ?? 'not an asymmetric key'}, but Entra app certificates must be RSA` };
  const certificate = certificates.find((candidate) => candidate.checkPrivateKey(key));
  if (!certificate)
    return {
      problem: `the private key in ${file} does not belong to its certificate (${certificates[0]?.subject ?? 'none'}) — use the key the certificate was made with`,
    };
  const notAfter = Date.parse(certificate.validTo);
  if (notAfter <= now)
    return {
      problem: `the certificate in ${file} expired on ${certificate.validTo} — create a new one and register it on the app (az ad app credential reset --cert)`,
    };
  const chain = [certificate, ...certificates.filter((other) => other !== certificate)];
  return {
    thumbprintSha256: certificate.fingerprint256.replaceAll(':', '').toLowerCase(),
    privateKey: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
    certificatePem: chain.map((one) => one.toString().trim()).join('\n'),
  };
}

/** DER PKCS#12: PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, macData? } — no PEM file starts with 0x30. */
function isPkcs12(bytes: Buffer): boolean {
  if (bytes[0] !== 0x30) return false;
  // The outer length is short form (one byte) or long form (0x8N then N bytes); version follows as 02 01 03.
  const lengthBytes = (bytes[1] ?? 0) & 0x80 ? ((bytes[1] ?? 0) & 0x7f) + 1 : 1;
  const version = 1 + lengthBytes;
  return bytes[version] === 0x02 && bytes[version + 1] === 0x01 && bytes[version + 2] === 0x03;
}

/** Opens a PFX with node-forge (Node reads no PKCS#12), loaded only when a PFX is configured. */
function openPfx(file: string, bytes: Buffer, password: PfxPassword): { certificates: X509Certificate[]; key: KeyObject } | { problem: string } {
  const forge = createRequire(import.meta.url)('node-forge') as typeof import('node-forge');
  let bags: import('node-forge').pkcs12.Bag[];
  try {
    const pfx = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(bytes.toString('binary'))), false, password.value);
    bags = pfx.safeContents.flatMap((contents) => contents.safeBags);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const from =
      password.env === null
        ? 'an empty password (no passwordEnv is named: name the environment variable holding its password as passwordEnv)'
        : `the password in $${password.env} (check that variable holds this file's password)`;
    return { problem: `${file} is a PFX/PKCS#12 file that does not open with ${from}: ${reason}` };
  }
  // A bag forge cannot model (a non-RSA key or certificate) keeps its ASN.1, so Node reads every bag from DER.
  const der = (bag: import('node-forge').pkcs12.Bag, asn1: import('node-forge').asn1.Asn1 | undefined): Buffer =>
    Buffer.from(forge.asn1.toDer(asn1 ?? bag.asn1).getBytes(), 'binary');
  const keyBags = bags.filter((bag) => bag.type === forge.pki.oids.pkcs8ShroudedKeyBag || bag.type === forge.pki.oids.keyBag);
  const certificateBags = bags.filter((bag) => bag.type === forge.pki.oids.certBag);
  const keyBag = keyBags[0];
  if (!keyBag)
    return { problem: `${file} holds no private key — export the PFX with its private key (e.g. Export-PfxCertificate, or openssl pkcs12 -export -inkey …)` };
  if (certificateBags.length === 0) return { problem: `${file} holds no certificate — export the PFX with the app's certificate and its private key` };
  try {
    const keyAsn1 = keyBag.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keyBag.key)) : undefined;
    const key = createPrivateKey({ key: der(keyBag, keyAsn1), format: 'der', type: 'pkcs8' });
    const certificates = certificateBags.map((bag) => new X509Certificate(der(bag, bag.cert ? forge.pki.certificateToAsn1(bag.cert) : undefined)));
    return { certificates, key };
  } catch (error) {
    return { problem: `${file} does not parse: ${error instanceof Error ? error.message : String(error)}` };
  }
}
