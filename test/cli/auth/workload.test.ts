import { describe, expect, it } from 'vitest';
import { readWorkloadCredential, workloadFromFlags, workloadScope } from '../../../cli/auth/workload.js';
import { AccessError } from '../../../shared/errors.js';
import type { BrokerConfigResponse } from '../../../shared/wire.js';

const TENANT = '3f2b8c1e-5d4a-4e6f-9a7b-2c1d0e9f8a76';
const APP = '2F6A1C4E-0B8D-4D6E-9C1A-5E7F3B2A9D10';
const SIGN_IN: BrokerConfigResponse = {
  tenantId: TENANT,
  authority: `https://login.microsoftonline.com/${TENANT}`,
  clientId: 'cli',
  scopes: ['api://access-broker/user_impersonation', 'offline_access'],
  brokerVersion: 'test',
};

function usage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof AccessError) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('workloadFromFlags', () => {
  it('takes the flags, the broker tenant by default, and makes paths absolute', () => {
    expect(workloadFromFlags({ clientId: APP, certificate: 'certs/robot.pem' }, {}, SIGN_IN, '/srv/job')).toEqual({
      clientId: APP.toLowerCase(),
      tenantId: TENANT,
      credential: { kind: 'certificate', file: '/srv/job/certs/robot.pem' },
    });
  });

  it('falls back to the Azure SDK environment, a certificate before a secret before a federated token', () => {
    const env = { AZURE_CLIENT_ID: APP, AZURE_TENANT_ID: TENANT, AZURE_CLIENT_SECRET: 's3cret', AZURE_FEDERATED_TOKEN_FILE: '/var/run/token' };
    expect(workloadFromFlags({}, env, SIGN_IN, '/').credential).toEqual({ kind: 'secret', env: 'AZURE_CLIENT_SECRET' });
    expect(workloadFromFlags({}, { ...env, AZURE_CLIENT_CERTIFICATE_PATH: '/c.pem' }, SIGN_IN, '/').credential).toEqual({
      kind: 'certificate',
      file: '/c.pem',
    });
    expect(workloadFromFlags({}, { AZURE_CLIENT_ID: APP, AZURE_FEDERATED_TOKEN_FILE: '/var/run/token' }, SIGN_IN, '/').credential).toEqual({
      kind: 'federated',
      tokenFile: '/var/run/token',
    });
  });

  it('remembers the name of the secret variable, never the secret', () => {
    const settings = workloadFromFlags({ clientId: APP, secretEnv: 'ROBOT_SECRET' }, { ROBOT_SECRET: 'hunter2' }, SIGN_IN, '/');
    expect(JSON.stringify(settings)).not.toContain('hunter2');
  });

  it.each([
    ['no client id', {}, {}, 'usage: name the workload'],
    ['a client id that is not a GUID', { clientId: 'robot' }, {}, 'is not an application (client) id'],
    ['another tenant', { clientId: APP, tenant: '1b8f4a2c-7d3e-4f5a-9b6c-0d1e2f3a4b5c', certificate: 'c.pem' }, {}, "is not this broker's"],
    ['two credentials', { clientId: APP, certificate: 'c.pem', secretEnv: 'S' }, {}, 'give one credential, not --certificate and --secret-env'],
    ['a secret given where its variable name belongs', { clientId: APP, secretEnv: 'abc~def.123' }, {}, 'the NAME of the environment variable'],
    ['no credential', { clientId: APP }, {}, "name the workload's credential"],
  ])('refuses %s with a usage error saying what to give', (_, flags, env, message) => {
    expect(usage(() => workloadFromFlags(flags, env, SIGN_IN, '/'))).toContain(message);
  });
});

describe('readWorkloadCredential', () => {
  it('reads a secret from the variable it names, and says which variable is missing', () => {
    expect(readWorkloadCredential({ kind: 'secret', env: 'ROBOT_SECRET' }, { ROBOT_SECRET: 'x' }, 0)).toEqual({
      kind: 'secret',
      env: 'ROBOT_SECRET',
      secret: 'x',
    });
    expect(usage(() => readWorkloadCredential({ kind: 'secret', env: 'ROBOT_SECRET' }, {}, 0))).toContain('$ROBOT_SECRET, which is not set');
  });

  it('names a certificate file it cannot read', () => {
    expect(usage(() => readWorkloadCredential({ kind: 'certificate', file: '/nonexistent/robot.pem' }, {}, 0))).toContain('/nonexistent/robot.pem');
  });
});

describe('workloadScope', () => {
  it("asks for the API's .default scope, which carries the app roles", () => {
    expect(workloadScope(SIGN_IN)).toBe('api://access-broker/.default');
  });
});
