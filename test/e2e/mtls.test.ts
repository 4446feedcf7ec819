// End to end with real processes: mutual TLS at the broker (config `tls.clientCa`) on an
// `access-broker dev` serving HTTPS with a test CA. The CLI presents `--cert/--key`, remembered for
// the broker like `--ca`, on every API call and tunnel; without a certificate, or with one another CA
// issued, it is refused with words saying what to do; and a certificate never stands in for the
// Entra token.

import { readFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestView } from '../../shared/wire.js';
import { REPO, runCli, tempDir } from '../helpers/processes.js';
import { createTestCa, type TestCertificate } from '../helpers/test-ca.js';
import { startTlsDevBrokerProcess, type TlsDevBroker } from '../helpers/tls-broker.js';
import { signIn, startListener, stopListener, writeConfigFromTemplate, type Person } from '../helpers/tunnel-broker.js';
import { connectTcp, echoRoundTrip, startEchoServer, type LoopbackServer } from '../helpers/tunnel-targets.js';

const CONFIG_TEMPLATE = path.join(REPO, 'test/fixtures/mtls.yaml');

let echo: LoopbackServer;
let tls: TlsDevBroker;
let aliceCert: TestCertificate;
let strangerCert: TestCertificate;
let alice: Person;

beforeAll(async () => {
  echo = await startEchoServer();
  const dir = await tempDir('mtls');
  const clients = await createTestCa(dir, 'clients');
  aliceCert = await clients.issue('alice-client', { usage: 'client' });
  strangerCert = await (await createTestCa(dir, 'stranger-ca')).issue('stranger-client', { usage: 'client' });
  const config = await writeConfigFromTemplate(CONFIG_TEMPLATE, dir, { ECHO_PORT: echo.port, CLIENT_CA: clients.certFile });
  tls = await startTlsDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', config]);
  alice = await signIn(tls.broker.url, 'alice@contoso.dev', await tempDir('alice'), {
    ...tls.loginOptions,
    args: [...(tls.loginOptions.args ?? []), '--cert', aliceCert.certFile, '--key', aliceCert.keyFile],
  });
});

afterAll(async () => {
  await tls?.broker.stop();
  await echo?.close();
});

/** GET `urlPath` on the broker with `options`, as a script would (the test CA trusted). */
function get(urlPath: string, options: { cert?: TestCertificate; token?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${tls.broker.url}${urlPath}`,
      {
        ca: [tls.ca.cert],
        ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}),
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.once('error', reject);
  });
}

describe('mutual TLS at the broker', () => {
  it('signs in with --cert/--key and remembers the pair for the broker, as --ca is', async () => {
    const settings = JSON.parse(await readFile(path.join(alice.home, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(settings).toMatchObject({ clientCertFile: aliceCert.certFile, clientKeyFile: aliceCert.keyFile, caFile: tls.ca.certFile });
  });

  it('presents the remembered certificate on API calls and tunnels alike', async () => {
    const granted = await alice.json<RequestView>(['request', 'echo', '--for', '10m', '--json']);
    expect(granted.state).toBe('approved');
    const listening = await startListener(alice, 'echo');
    try {
      const socket = await connectTcp(listening.host, listening.port);
      expect(await echoRoundTrip(socket, 'over mutual TLS')).toBe('over mutual TLS');
      socket.destroy();
    } finally {
      await stopListener(listening);
    }
  });

  it('refuses a CLI without a certificate, saying the broker requires one and how to give it', async () => {
    const result = await runCli(['login', '--broker', tls.broker.url, '--ca', tls.ca.certFile], await tempDir('no-cert'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('requires a client certificate');
    expect(result.stderr).toContain('--cert FILE --key FILE');
  });

  it('refuses a certificate another CA issued, saying it was refused', async () => {
    const result = await runCli(
      ['login', '--broker', tls.broker.url, '--ca', tls.ca.certFile, '--cert', strangerCert.certFile, '--key', strangerCert.keyFile],
      await tempDir('stranger'),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refused your client certificate');
  });

  it("refuses a key that is not the certificate's before connecting", async () => {
    const result = await runCli(['login', '--broker', tls.broker.url, '--cert', aliceCert.certFile, '--key', strangerCert.keyFile], await tempDir('mismatch'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not the private key of the certificate');
  });

  it('never lets a certificate stand in for the Entra token', async () => {
    const answer = await get('/v1/whoami', { cert: aliceCert });
    expect(answer.status).toBe(401);
    expect(answer.body).toContain('token_missing');
  });

  it('leaves the health probes open to a load balancer without a certificate', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/v1/config')).status).toBe(403);
  });
});
