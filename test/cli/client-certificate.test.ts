import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientCertificateToRemember, resolveClientCertificate } from '../../cli/client-certificate.js';
import { createTestCa } from '../helpers/test-ca.js';

const BROKER = 'https://access.example.com';

async function pairs() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'access-client-cert-'));
  const ca = await createTestCa(dir);
  return { mine: await ca.issue('mine', { usage: 'client' }), other: await ca.issue('other', { usage: 'client' }) };
}

describe('the client certificate (mutual TLS)', () => {
  it('takes --cert/--key over the environment over the pair remembered for this broker', async () => {
    const { mine, other } = await pairs();
    const settings = { broker: BROKER, clientCertFile: other.certFile, clientKeyFile: other.keyFile };
    const env = { ACCESS_CLIENT_CERT: other.certFile, ACCESS_CLIENT_KEY: other.keyFile };
    expect(await resolveClientCertificate({ certFlag: mine.certFile, keyFlag: mine.keyFile, env, settings, brokerUrl: BROKER })).toMatchObject({
      source: 'flag',
      certFile: mine.certFile,
    });
    expect(await resolveClientCertificate({ env, settings, brokerUrl: BROKER })).toMatchObject({ source: 'env' });
    expect(await resolveClientCertificate({ env: {}, settings, brokerUrl: BROKER })).toMatchObject({ source: 'remembered', cert: other.cert });
    // A pair remembered for one broker is never shown to another.
    expect(await resolveClientCertificate({ env: {}, settings, brokerUrl: 'https://other.example.com' })).toBeNull();
  });

  it("refuses half a pair and a key that is not the certificate's, naming the files", async () => {
    const { mine, other } = await pairs();
    await expect(resolveClientCertificate({ certFlag: mine.certFile, env: {}, settings: {}, brokerUrl: BROKER })).rejects.toMatchObject({
      code: 'usage',
      message: expect.stringContaining('--cert and --key go together'),
    });
    await expect(resolveClientCertificate({ certFlag: mine.certFile, keyFlag: other.keyFile, env: {}, settings: {}, brokerUrl: BROKER })).rejects.toMatchObject(
      {
        code: 'usage',
        message: expect.stringContaining(`"${other.keyFile}" is not the private key of the certificate in "${mine.certFile}"`),
      },
    );
  });

  it("remembers a pair given with flags, keeps the one remembered otherwise, and never writes the environment's", async () => {
    const { mine, other } = await pairs();
    const settings = { broker: BROKER, clientCertFile: other.certFile, clientKeyFile: other.keyFile };
    const flag = await resolveClientCertificate({ certFlag: mine.certFile, keyFlag: mine.keyFile, env: {}, settings: {}, brokerUrl: BROKER });
    expect(clientCertificateToRemember(flag, settings, BROKER)).toEqual({ clientCertFile: mine.certFile, clientKeyFile: mine.keyFile });
    const env = await resolveClientCertificate({
      env: { ACCESS_CLIENT_CERT: mine.certFile, ACCESS_CLIENT_KEY: mine.keyFile },
      settings: {},
      brokerUrl: BROKER,
    });
    expect(clientCertificateToRemember(env, settings, BROKER)).toEqual({ clientCertFile: other.certFile, clientKeyFile: other.keyFile });
    expect(clientCertificateToRemember(env, {}, BROKER)).toEqual({});
  });
});
