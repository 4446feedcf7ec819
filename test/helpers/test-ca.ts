// A throwaway private CA for TLS tests: a CA certificate and server certificates it issues (for
// 127.0.0.1 and localhost by default), written as PEM files the way an operator would have them.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCa extends TestCertificate {
  /**
   * A server certificate issued by this CA, written next to it as NAME.crt and NAME.key. Default
   * names: DNS localhost and IP 127.0.0.1; default validity: from a day ago for 30 days.
   */
  issue(name: string, options?: { dns?: string[]; ips?: string[]; notAfter?: Date; notBefore?: Date; usage?: 'server' | 'client' }): Promise<TestCertificate>;
}

const DAY_MS = 86_400_000;

async function write(dir: string, name: string, cert: string, key: string): Promise<TestCertificate> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  await writeFile(certFile, cert);
  await writeFile(keyFile, key, { mode: 0o600 });
  return { certFile, keyFile, cert, key };
}

function serverExtensions(dns: string[], ips: string[], usage: 'server' | 'client' = 'server') {
  return [
    { name: 'basicConstraints' as const, cA: false },
    { name: 'keyUsage' as const, digitalSignature: true, keyEncipherment: true },
    // A client certificate (mutual TLS) is for client authentication: OpenSSL checks the purpose.
    { name: 'extKeyUsage' as const, ...(usage === 'client' ? { clientAuth: true } : { serverAuth: true }) },
    {
      name: 'subjectAltName' as const,
      altNames: [...dns.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))],
    },
  ];
}

/** Creates a CA named `name` in `dir` (EC P-256 keys: fast to generate). */
export async function createTestCa(dir: string, name = 'ca'): Promise<TestCa> {
  const ca = await generate([{ name: 'commonName', value: `access test CA (${name})` }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY_MS),
    notAfterDate: new Date(Date.now() + 30 * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const files = await write(dir, name, ca.cert, ca.private);
  return {
    ...files,
    async issue(certName, options = {}) {
      const dns = options.dns ?? ['localhost'];
      const ips = options.ips ?? ['127.0.0.1'];
      const leaf = await generate([{ name: 'commonName', value: dns[0] ?? ips[0] ?? certName }], {
        keyType: 'ec',
        algorithm: 'sha256',
        notBeforeDate: options.notBefore ?? new Date(Date.now() - DAY_MS),
        notAfterDate: options.notAfter ?? new Date(Date.now() + 30 * DAY_MS),
        extensions: serverExtensions(dns, ips, options.usage),
        ca: { key: ca.private, cert: ca.cert },
      });
      return write(dir, certName, leaf.cert, leaf.private);
    },
  };
}

/** A self-signed server certificate (no CA) for 127.0.0.1 and localhost. */
export async function createSelfSigned(dir: string, name = 'self-signed'): Promise<TestCertificate> {
  const self = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY_MS),
    notAfterDate: new Date(Date.now() + 30 * DAY_MS),
    extensions: serverExtensions(['localhost'], ['127.0.0.1']),
  });
  return write(dir, name, self.cert, self.private);
}
