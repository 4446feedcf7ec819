// `access-broker doctor` as a person runs it: a real `access-broker dev` process as the tenant and
// the doctor command as a second process, with a correct config and a broken one.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOCTOR_SECRET_ENV,
  readDevTenantState,
  readManagedIdentityEnv,
  valuesFromState,
  writeDoctorConfig,
  type DevTenantState,
} from '../helpers/doctor-config.js';
import { BROKER_BIN, cleanEnv, REPO, startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';

let broker: DevBrokerProcess;
let dir: string;
let state: DevTenantState;

beforeAll(async () => {
  dir = await tempDir('access-doctor-e2e-');
  broker = await startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', path.join(REPO, 'test/fixtures/doctor-dev.yaml')]);
  state = await readDevTenantState(path.join(dir, 'data'));
});

afterAll(async () => {
  await broker.stop();
});

function doctor(config: string, secret: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BROKER_BIN, 'doctor', '--config', config, '--dev-tenant-plaintext'], {
      env: cleanEnv({ [DOCTOR_SECRET_ENV]: secret, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('access-broker doctor (process)', () => {
  it('prints a ✔ line per check and exits 0 for a correct setup', async () => {
    const config = path.join(dir, 'good.yaml');
    await writeDoctorConfig(config, valuesFromState(broker.url, state, ['sg-eng', 'sg-dba']));
    const run = await doctor(config, state.apps.graph.clientSecret as string);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.slice(0, -1).every((l) => l.startsWith('✔ '))).toBe(true);
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
  });

  it('prints ✖ with the fix for a wrong secret and a Microsoft 365 group, and exits 1', async () => {
    const config = path.join(dir, 'broken.yaml');
    await writeDoctorConfig(config, valuesFromState(broker.url, state, ['sg-eng', 'm365-all-staff']));
    const wrongSecret = await doctor(config, 'not-the-secret');
    expect(wrongSecret.code).toBe(1);
    expect(wrongSecret.stdout).toMatch(/✖ Microsoft Graph token .*AADSTS7000215.* — fix: /);
    const m365 = await doctor(config, state.apps.graph.clientSecret as string);
    expect(m365.code).toBe(1);
    expect(m365.stdout).toMatch(/✖ group .* "m365-all-staff": is a Microsoft 365 group, not a security group .*— fix: /);
  });

  it('gets its Graph token as an App Service managed identity (IDENTITY_ENDPOINT + IDENTITY_HEADER) and passes', async () => {
    const config = path.join(dir, 'managed-identity.yaml');
    await writeDoctorConfig(config, { ...valuesFromState(broker.url, state, ['sg-eng']), credential: '{ kind: managedIdentity }' });
    const run = await doctor(config, '', await readManagedIdentityEnv(path.join(dir, 'data')));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/✔ Microsoft Graph token as system-assigned managed identity\n/);
  });
});
