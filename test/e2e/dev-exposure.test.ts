// `access-broker dev` as a person would expose it by mistake: `--host 0.0.0.0` with a TLS
// certificate. Without the loudly named flag it refuses to start (exit 2, naming the flag); with
// it, it starts with a warning and still answers only to its own names.

import https from 'node:https';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_BIN, startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';
import { createTestCa, type TestCa, type TestCertificate } from '../helpers/test-ca.js';
import { spawnSync } from 'node:child_process';

const CONFIG = path.resolve('test/fixtures/short-limits.yaml');
let exposed: DevBrokerProcess | undefined;

afterAll(async () => {
  await exposed?.stop();
});

async function certificate(): Promise<{ ca: TestCa; server: TestCertificate }> {
  const ca = await createTestCa(await tempDir('exposure-ca'));
  return { ca, server: await ca.issue('broker', { dns: ['localhost'], ips: ['0.0.0.0', '127.0.0.1'] }) };
}

function get(port: number, host: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/devicelogin', headers: { host }, ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('access-broker dev --host 0.0.0.0', () => {
  it('refuses to start without --unsafe-expose-dev-tenant: exit 2, and says why and which flag', async () => {
    const { server } = await certificate();
    const run = spawnSync(
      process.execPath,
      [BROKER_BIN, 'dev', '--host', '0.0.0.0', '--port', '0', '--tls-cert', server.certFile, '--tls-key', server.keyFile, '--config', CONFIG],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/will not listen on "0\.0\.0\.0".*no password.*--unsafe-expose-dev-tenant/s);
    expect(run.stdout).not.toContain('Ready.');
  });

  it('starts with the flag, warns, and still refuses a Host that is not its own', async () => {
    const { ca, server } = await certificate();
    exposed = await startDevBrokerProcess(
      ['--host', '0.0.0.0', '--config', CONFIG, '--unsafe-expose-dev-tenant'],
      {},
      { tls: { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile } },
    );
    expect(exposed.output()).toMatch(/WARNING\s+--unsafe-expose-dev-tenant: the password-less dev sign-in page is reachable on 0\.0\.0\.0/);
    const port = Number(new URL(exposed.url).port);
    expect((await get(port, `127.0.0.1:${port}`, ca.cert)).status).toBe(200);
    const rebound = await get(port, `evil.example:${port}`, ca.cert);
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body)).toMatchObject({ code: 'host_not_allowed' });
  });
});
