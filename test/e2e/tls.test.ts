// End to end over TLS with real processes: `access-broker dev` serving HTTPS/WSS from a certificate
// issued by a throwaway private CA (its dev tenant then reached over real https, no plain-HTTP
// adaptation), and CLIs that trust that CA because `access login --ca FILE` named it. Sign-in
// through the https device-login page, whoami, a request approved by another person and pushed to
// the waiting requester over wss, a tunnel over wss, and the refusals a person meets without the CA
// or with bad certificate files.

import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport } from '../../shared/http-transport.js';
import type { BrokerConfigResponse, WhoAmIResponse } from '../../shared/wire.js';
import {
  DEVICE_CODE_MESSAGE,
  REPO,
  login,
  runCli,
  runCliJson,
  startCli,
  startDevBrokerProcess,
  submitDeviceLogin,
  tempDir,
  waitForMatch,
  type DevBrokerProcess,
  type LoginOptions,
} from '../helpers/processes.js';
import type { TestCa } from '../helpers/test-ca.js';
import { startTlsDevBrokerProcess } from '../helpers/tls-broker.js';

/** No demo PostgreSQL: these tests stop at the grant. */
const SHORT_LIMITS_CONFIG = path.join(REPO, 'test/fixtures/short-limits.yaml');
const PENDING_LINE = /Request (\S+) PENDING/;

let broker: DevBrokerProcess;
let ca: TestCa;
let loginOptions: LoginOptions;
let withCa: HttpTransport;

beforeAll(async () => {
  ({ broker, ca, loginOptions } = await startTlsDevBrokerProcess(['--config', SHORT_LIMITS_CONFIG]));
  withCa = new HttpTransport({ extraCa: [ca.cert] });
});

afterAll(async () => {
  await broker?.stop();
});

describe('the dev broker over TLS', () => {
  it('serves the API and its dev tenant on one https origin, so /v1/config names no plain-HTTP dev tenant', async () => {
    expect(broker.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(broker.output()).toContain(`access login --broker ${broker.url} --ca ${ca.certFile}`);
    const config = JSON.parse((await withCa.request(`${broker.url}/v1/config`)).body.toString()) as BrokerConfigResponse;
    expect(config.devTenant).toBeUndefined();
    expect(config.authority).toBe(`${broker.url}/${config.tenantId}`);
    // The tenant's own endpoints answer over https with the same certificate.
    const discovery = await withCa.request(`${config.authority}/v2.0/.well-known/openid-configuration`);
    expect(JSON.parse(discovery.body.toString())).toMatchObject({ token_endpoint: `${config.authority}/oauth2/v2.0/token` });
  });

  it('signs alice in with --ca through the https device-login page, remembers the CA, and whoami uses it', async () => {
    const home = await tempDir('tls-alice');
    const run = startCli(['login', '--broker', broker.url, '--ca', ca.certFile], home);
    const match = await waitForMatch(run.stderr, DEVICE_CODE_MESSAGE);
    expect(match[1]).toBe(`${broker.url}/devicelogin`);
    const page = await withCa.request(match[1] as string);
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('alice@contoso.dev');
    expect((await submitDeviceLogin(broker.url, match[2] as string, 'alice@contoso.dev', [ca.cert])).status).toBe(200);

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Signed in as Alice Requester <alice@contoso.dev> on ${broker.url}`);
    const settings = JSON.parse(await readFile(path.join(home, 'config.json'), 'utf8')) as { broker: string; caFile: string };
    expect(settings).toMatchObject({ broker: broker.url, caFile: ca.certFile });

    const me = await runCliJson<WhoAmIResponse & { broker: string }>(['whoami'], home);
    expect(me).toMatchObject({ upn: 'alice@contoso.dev', broker: broker.url });
    expect(me.groups.map((g) => g.displayName)).toEqual(['sg-eng']);
  });

  it("pushes bob's approval to alice's waiting `access request` over wss", async () => {
    const aliceHome = await tempDir('tls-requester');
    const bobHome = await tempDir('tls-approver');
    expect((await login(broker.url, aliceHome, 'alice@contoso.dev', {}, loginOptions)).code).toBe(0);
    expect((await login(broker.url, bobHome, 'bob@contoso.dev', {}, loginOptions)).code).toBe(0);

    const waiting = startCli(['request', 'team-db', '--for', '20m', '--reason', 'INC-7: over TLS'], aliceHome);
    const id = (await waitForMatch(waiting.stdout, PENDING_LINE))[1] as string;
    const approve = await runCli(['approve', id], bobHome);
    expect(approve.code, approve.stderr).toBe(0);

    const result = await waiting.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Approved by bob@contoso.dev');
  });

  it('refuses to sign in without --ca, saying the certificate is not trusted and to pass --ca FILE', async () => {
    const home = await tempDir('tls-no-ca');
    const result = await runCli(['login', '--broker', broker.url], home);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: the broker at ${broker.url} presented a TLS certificate this CLI does not trust`);
    expect(result.stderr).toContain(`access login --broker ${broker.url} --ca FILE`);
    expect(result.stderr).not.toMatch(/NODE_TLS_REJECT_UNAUTHORIZED|insecure/i);
  });

  it('refuses a --ca path that does not exist with a usage error naming it', async () => {
    const home = await tempDir('tls-bad-ca');
    const missing = path.join(home, 'no-such-ca.pem');
    const result = await runCli(['login', '--broker', broker.url, '--ca', missing], home);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`error: cannot read the --ca file "${missing}": no such file — check the path`);
  });

  it('trusts the CA from ACCESS_CA_FILE for one run without remembering it; without it even a cached sign-in says the certificate is not trusted', async () => {
    const home = await tempDir('tls-env-ca');
    const env = { ACCESS_CA_FILE: ca.certFile };
    expect((await login(broker.url, home, 'carol@contoso.dev', env, { pageCa: [ca.cert] })).code).toBe(0);
    const settings = JSON.parse(await readFile(path.join(home, 'config.json'), 'utf8')) as { caFile?: string };
    expect(settings.caFile).toBeUndefined();
    expect((await runCliJson<WhoAmIResponse>(['whoami'], home, env)).upn).toBe('carol@contoso.dev');
    const without = await runCli(['whoami'], home);
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('does not trust');
  });
});

describe('the tunnel over wss', () => {
  let tunnelBroker: DevBrokerProcess | undefined;
  let echo: net.Server | undefined;

  afterAll(async () => {
    await tunnelBroker?.stop();
    await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
  });

  it('relays bytes through `access connect -- CMD` to a target behind an https broker', async () => {
    echo = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo?.listen(0, '127.0.0.1', resolve));
    const dir = await tempDir('tls-tunnel');
    const config = path.join(dir, 'tunnel.yaml');
    await writeFile(
      config,
      [
        'resources:',
        '  echo:',
        '    kind: tcp',
        `    target: 127.0.0.1:${(echo.address() as net.AddressInfo).port}`,
        '    requesters: [sg-eng]',
        '    approvers: [sg-dba]',
        '    maxDuration: 1h',
        '    autoApprove: [sg-eng]',
        'devTenant:',
        '  groups: [{ name: sg-eng }, { name: sg-dba }]',
        '  users:',
        '    - { upn: alice@contoso.dev, name: Alice Requester, groups: [sg-eng] }',
        '',
      ].join('\n'),
    );
    const started = await startTlsDevBrokerProcess(['--config', config]);
    tunnelBroker = started.broker;
    const home = await tempDir('tls-tunnel-alice');
    expect((await login(started.broker.url, home, 'alice@contoso.dev', {}, started.loginOptions)).code).toBe(0);
    const granted = await runCli(['request', 'echo', '--for', '10m'], home);
    expect(granted.code, granted.stderr).toBe(0);

    // A client that writes through the tunnel and exits 0 only when the same bytes come back.
    const client = [
      "const s = require('node:net').connect(Number(process.env.ACCESS_PORT), process.env.ACCESS_HOST, () => s.write('ping over wss'));",
      "s.on('data', (d) => process.exit(String(d) === 'ping over wss' ? 0 : 9));",
    ].join(' ');
    const result = await runCli(['connect', 'echo', '--', process.execPath, '-e', client], home);
    expect(result.code, result.stderr).toBe(0);
  });
});

describe('access-broker dev start-up with bad TLS files', () => {
  it('refuses a key that does not belong to the certificate, naming both files', async () => {
    const server = await ca.issue('bad-key-broker');
    await expect(
      startDevBrokerProcess(['--config', SHORT_LIMITS_CONFIG], {}, { tls: { certFile: server.certFile, keyFile: ca.keyFile, caFile: ca.certFile } }),
    ).rejects.toThrow(`error: the private key in "${ca.keyFile}" (--tls-key) does not belong to the certificate in "${server.certFile}"`);
  });

  it('refuses a certificate file that does not exist, naming it', async () => {
    const missing = path.join(await tempDir('tls-missing'), 'broker.crt');
    await expect(startDevBrokerProcess(['--config', SHORT_LIMITS_CONFIG], {}, { tls: { certFile: missing, keyFile: ca.keyFile } })).rejects.toThrow(
      `error: cannot read the --tls-cert file "${missing}": no such file`,
    );
  });
});
