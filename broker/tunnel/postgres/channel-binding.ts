// SCRAM channel binding `tls-server-end-point` (RFC 5929 section 4.1), as PostgreSQL offers it
// over TLS (SCRAM-SHA-256-PLUS): the hash of the server's certificate, so a login over TLS cannot
// be relayed by someone in the middle of that TLS. It matters most with `targetTls: require`,
// where the certificate itself is not checked.
//
// The hash is the one the certificate is signed with, SHA-256 when that is MD5 or SHA-1. Node
// does not say which that is, so the signature algorithm's OID is read from the DER.

import { createHash } from 'node:crypto';

/** The signature algorithms whose hash the binding uses, by the DER bytes of their OID. */
const SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  '2a864886f70d010104': 'sha256', // md5WithRSAEncryption (MD5: SHA-256 instead)
  '2a864886f70d010105': 'sha256', // sha1WithRSAEncryption (SHA-1: SHA-256 instead)
  '2a864886f70d01010e': 'sha224', // sha224WithRSAEncryption
  '2a864886f70d01010b': 'sha256', // sha256WithRSAEncryption
  '2a864886f70d01010c': 'sha384', // sha384WithRSAEncryption
  '2a864886f70d01010d': 'sha512', // sha512WithRSAEncryption
  '2a8648ce3d0401': 'sha256', // ecdsa-with-SHA1 (SHA-1: SHA-256 instead)
  '2a8648ce3d040301': 'sha224', // ecdsa-with-SHA224
  '2a8648ce3d040302': 'sha256', // ecdsa-with-SHA256
  '2a8648ce3d040303': 'sha384', // ecdsa-with-SHA384
  '2a8648ce3d040304': 'sha512', // ecdsa-with-SHA512
};

const SEQUENCE = 0x30;
const OBJECT_IDENTIFIER = 0x06;

/** The `tls-server-end-point` binding data of a DER certificate, or null when its signature's hash is not one of the above (e.g. Ed25519, RSA-PSS). */
export function serverEndPoint(der: Buffer): Buffer | null {
  try {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { algorithm OID, … }, … }
    const certificate = element(der, 0, SEQUENCE);
    const tbs = element(der, certificate.contentStart, SEQUENCE);
    const algorithm = element(der, tbs.end, SEQUENCE);
    const oid = element(der, algorithm.contentStart, OBJECT_IDENTIFIER);
    const hash = SIGNATURE_HASHES[der.subarray(oid.contentStart, oid.end).toString('hex')];
    return hash ? createHash(hash).update(der).digest() : null;
  } catch {
    return null;
  }
}

/** One DER element of type `tag` at `at`: where its content starts and where it ends. */
function element(der: Buffer, at: number, tag: number): { contentStart: number; end: number } {
  if (der[at] !== tag) throw new Error('unexpected DER');
  const first = der[at + 1];
  if (first === undefined) throw new Error('short DER');
  let length = first;
  let contentStart = at + 2;
  if (first & 0x80) {
    const bytes = first & 0x7f;
    if (bytes === 0 || bytes > 4) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[at + 2 + i] as number);
    contentStart += bytes;
  }
  const end = contentStart + length;
  if (end > der.length) throw new Error('short DER');
  return { contentStart, end };
}
