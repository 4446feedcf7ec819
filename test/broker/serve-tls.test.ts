// `access-broker serve` over HTTPS: the same listener code as `dev`, given --tls-cert/--tls-key.
// The tenant in examples/access.yaml is never contacted (nothing here needs a token).

import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../broker/log.js';
import { startBroker } from '../../broker/serve-command.js';
import { HttpTransport } from '../../shared/http-transport.js';
import type { BrokerConfigResponse } from '../../shared/wire.js';
import { REPO, tempDir } from '../helpers/processes.js';
import { createTestCa, type TestCa, type TestCertificate } from '../helpers/test-ca.js';

const CONFIG = path.join(REPO, 'examples/access.yaml');
const env = { ACCESS_GRAPH_CLIENT_SECRET: 'not-used' };
const log: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let dir: string;
let ca: TestCa;
let server: TestCertificate;

beforeAll(async () => {
  dir = await tempDir('serve-tls');
  ca = await createTestCa(dir);
  server = await ca.issue('broker');
});

describe('access-broker serve with --tls-cert/--tls-key', () => {
  it('serves the API over HTTPS to a client that trusts the CA, and says so in its URL', async () => {
    const broker = await startBroker({
      configFile: CONFIG,
      dataDir: path.join(dir, 'data'),
      port: 0,
      host: '127.0.0.1',
      env,
      log,
      tls: { certFile: server.certFile, keyFile: server.keyFile },
    });
    try {
      expect(broker.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await new HttpTransport({ extraCa: [ca.cert] }).request(`${broker.url}/v1/config`);
      const config = JSON.parse(res.body.toString()) as BrokerConfigResponse;
      expect(config.authority).toBe('https://login.microsoftonline.com/3f2b8c1e-5d4a-4e6f-9a7b-2c1d0e9f8a76');
      expect(config.devTenant).toBeUndefined();
      await expect(new HttpTransport().request(`${broker.url}/v1/config`)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    } finally {
      await broker.stop();
    }
  });

  it('refuses to start with a key that does not belong to the certificate', async () => {
    await expect(
      startBroker({
        configFile: CONFIG,
        dataDir: path.join(dir, 'data-2'),
        port: 0,
        host: '127.0.0.1',
        env,
        log,
        tls: { certFile: server.certFile, keyFile: ca.keyFile },
      }),
    ).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('does not belong to the certificate') });
  });
});
