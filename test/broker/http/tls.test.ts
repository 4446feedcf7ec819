// The broker's TLS listener: certificate files checked at start with errors that name them, HTTPS
// served on a real socket, and the dev broker's self-check of its own origin.

import { writeFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkServesOwnOrigin, createListener, listenerOrigin, loadBrokerTls, type BrokerTls } from '../../../broker/http/tls.js';
import { listen } from '../../../broker/server.js';
import { HttpTransport } from '../../../shared/http-transport.js';
import { tempDir } from '../../helpers/processes.js';
import { createSelfSigned, createTestCa, type TestCa, type TestCertificate } from '../../helpers/test-ca.js';

let dir: string;
let ca: TestCa;
let server: TestCertificate;
let other: TestCa;

beforeAll(async () => {
  dir = await tempDir('broker-tls');
  ca = await createTestCa(dir, 'ca');
  other = await createTestCa(dir, 'other-ca');
  server = await ca.issue('server');
});

/** Serves `tls` on 127.0.0.1:0 answering every request with "ok"; returns the origin and a stop function. */
async function serve(tls: BrokerTls): Promise<{ origin: string; stop(): Promise<void> }> {
  const listener: http.Server = createListener(tls);
  listener.on('request', (_req, res) => res.end('ok'));
  const address = await listen(listener, 0, '127.0.0.1');
  return {
    origin: listenerOrigin(address, 'https'),
    stop: () => new Promise<void>((resolve) => listener.close(() => resolve())),
  };
}

describe('loadBrokerTls', () => {
  it('serves HTTPS that a client trusting the named CA accepts', async () => {
    const tls = await loadBrokerTls({ certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile });
    expect(tls.trust).toEqual([ca.cert.trim()]);
    expect(tls.trustFile).toBe(ca.certFile);
    const served = await serve(tls);
    try {
      const res = await new HttpTransport({ extraCa: tls.trust }).request(`${served.origin}/`);
      expect(res.body.toString()).toBe('ok');
      await expect(new HttpTransport().request(`${served.origin}/`)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    } finally {
      await served.stop();
    }
  });

  it('trusts a self-signed certificate itself when no CA is named', async () => {
    const self = await createSelfSigned(dir);
    const tls = await loadBrokerTls({ certFile: self.certFile, keyFile: self.keyFile });
    expect(tls.trustFile).toBe(self.certFile);
    const served = await serve(tls);
    try {
      expect((await new HttpTransport({ extraCa: tls.trust }).request(`${served.origin}/`)).status).toBe(200);
    } finally {
      await served.stop();
    }
  });

  it('adds no trust for a CA-issued certificate when the CA is not named (a public CA)', async () => {
    const tls = await loadBrokerTls({ certFile: server.certFile, keyFile: server.keyFile });
    expect(tls.trust).toEqual([]);
    expect(tls.trustFile).toBeNull();
  });

  it('refuses a certificate file that does not exist, naming it and the flag', async () => {
    const missing = path.join(dir, 'missing.crt');
    await expect(loadBrokerTls({ certFile: missing, keyFile: server.keyFile })).rejects.toMatchObject({
      code: 'config_invalid',
      message: `cannot read the --tls-cert file "${missing}": no such file — check the path`,
    });
  });

  it('refuses a certificate file that holds no PEM certificate', async () => {
    await expect(loadBrokerTls({ certFile: server.keyFile, keyFile: server.keyFile })).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringContaining(`the --tls-cert file "${server.keyFile}" holds no PEM certificate`),
    });
  });

  it('refuses a key file that holds no private key', async () => {
    await expect(loadBrokerTls({ certFile: server.certFile, keyFile: server.certFile })).rejects.toMatchObject({
      message: expect.stringContaining(`the --tls-key file "${server.certFile}" holds no usable private key`),
    });
  });

  it('refuses a key that does not belong to the certificate, naming both files', async () => {
    await expect(loadBrokerTls({ certFile: server.certFile, keyFile: ca.keyFile })).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringMatching(
        new RegExp(`the private key in "${ca.keyFile}" \\(--tls-key\\) does not belong to the certificate in "${server.certFile}" \\(--tls-cert`),
      ),
    });
  });

  it('refuses a certificate the named CA did not issue', async () => {
    await expect(loadBrokerTls({ certFile: server.certFile, keyFile: server.keyFile, caFile: other.certFile })).rejects.toMatchObject({
      message: expect.stringContaining(`was not issued by the CA in "${other.certFile}" (--tls-ca)`),
    });
  });

  it('refuses an expired certificate, saying when it expired', async () => {
    const expired = await ca.issue('expired', { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    await expect(loadBrokerTls({ certFile: expired.certFile, keyFile: expired.keyFile, caFile: ca.certFile })).rejects.toMatchObject({
      message: expect.stringMatching(/\(--tls-cert\) expired on .* — renew it/),
    });
  });

  it('refuses a CA file with a broken certificate block', async () => {
    const broken = path.join(dir, 'broken-ca.crt');
    await writeFile(broken, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
    await expect(loadBrokerTls({ certFile: server.certFile, keyFile: server.keyFile, caFile: broken })).rejects.toMatchObject({
      message: expect.stringContaining(`certificate 1 in the --tls-ca file "${broken}" cannot be parsed`),
    });
  });
});

describe('checkServesOwnOrigin (the dev broker reaching its own tenant)', () => {
  it('passes when the certificate names the address and its CA is trusted', async () => {
    const tls = await loadBrokerTls({ certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile });
    const served = await serve(tls);
    try {
      await expect(checkServesOwnOrigin(served.origin, tls)).resolves.toBeUndefined();
    } finally {
      await served.stop();
    }
  });

  it('refuses a certificate that does not name the listening address, listing the names it has', async () => {
    const localhostOnly = await ca.issue('localhost-only', { dns: ['localhost'], ips: [] });
    const tls = await loadBrokerTls({ certFile: localhostOnly.certFile, keyFile: localhostOnly.keyFile, caFile: ca.certFile });
    const served = await serve(tls);
    try {
      await expect(checkServesOwnOrigin(served.origin, tls)).rejects.toMatchObject({
        code: 'config_invalid',
        message: expect.stringContaining(`is for DNS:localhost, not 127.0.0.1 where the dev broker listens`),
      });
    } finally {
      await served.stop();
    }
  });

  it('refuses a CA-issued certificate whose CA was not named, saying to pass --tls-ca', async () => {
    const tls = await loadBrokerTls({ certFile: server.certFile, keyFile: server.keyFile });
    const served = await serve(tls);
    try {
      await expect(checkServesOwnOrigin(served.origin, tls)).rejects.toMatchObject({
        message: expect.stringContaining('pass the CA that issued the certificate with --tls-ca FILE'),
      });
    } finally {
      await served.stop();
    }
  });
});
