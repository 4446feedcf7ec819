// With a data dir the dev tenant is the same tenant after a restart: ids, secrets, keys, object
// ids, and refresh tokens issued before the restart keep working.

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevTenant } from '../../../broker/devtenant/dev-tenant.js';
import { DEV_DIRECTORY } from '../../../broker/devtenant/seed.js';
import { STATE_FILE_NAME } from '../../../broker/devtenant/state.js';
import { AccessError } from '../../../shared/errors.js';
import { json, postForm, serveDevTenant, signIn, type Served } from './harness.js';

let root: string;
let dataDir: string;
const open: Served[] = [];

async function serve(directory = DEV_DIRECTORY): Promise<Served> {
  const served = await serveDevTenant({ dataDir, directory });
  open.push(served);
  return served;
}

function identity(served: Served): Record<string, unknown> {
  const { tenant } = served;
  return {
    tenantId: tenant.tenantId,
    cliClientId: tenant.cliClientId,
    api: tenant.api,
    graphApp: tenant.graphApp,
    automationApp: tenant.automationApp,
    users: tenant.users(),
  };
}

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'devtenant-'));
  dataDir = path.join(root, 'data');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
});

describe('dev tenant data dir', () => {
  it('reopens as the same tenant with the same apps, object ids and keys', async () => {
    const first = await serve();
    await first.tenant.rotateSigningKey();
    const keysBefore = json(await first.transport.request(first.tenant.jwksUri)).keys as Array<{ kid: string }>;
    await first.close();

    const second = await serve();
    expect(identity(second)).toEqual(identity(first));
    const keysAfter = json(await second.transport.request(second.tenant.jwksUri)).keys as Array<{ kid: string }>;
    expect(keysAfter.map((k) => k.kid)).toEqual(keysBefore.map((k) => k.kid));
  });

  it('keeps its state in a 0600 file inside a 0700 directory', async () => {
    await serve();
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dataDir, STATE_FILE_NAME))).mode & 0o777).toBe(0o600);
  });

  it('accepts a refresh token issued before the restart', async () => {
    const first = await serve();
    const tokens = await signIn(first, 'erin@contoso.dev');
    await first.close();

    const second = await serve();
    const res = await postForm(second.transport, `${second.tenant.authority}/oauth2/v2.0/token`, {
      grant_type: 'refresh_token',
      client_id: second.tenant.cliClientId,
      refresh_token: tokens.refresh_token as string,
      scope: second.tenant.api.scope,
    });
    expect(res.status).toBe(200);
    const erin = second.tenant.users().find((u) => u.upn === 'erin@contoso.dev');
    expect(JSON.parse(Buffer.from(String(json(res).client_info), 'base64url').toString())).toEqual({ uid: erin?.oid, utid: second.tenant.tenantId });
  });

  it('answers invalid_grant to a refresh for a user no longer in the directory', async () => {
    const first = await serve();
    const tokens = await signIn(first, 'erin@contoso.dev');
    await first.close();

    const withoutErin = { ...DEV_DIRECTORY, users: DEV_DIRECTORY.users.filter((u) => u.upn !== 'erin@contoso.dev') };
    const second = await serve(withoutErin);
    const res = await postForm(second.transport, `${second.tenant.authority}/oauth2/v2.0/token`, {
      grant_type: 'refresh_token',
      client_id: second.tenant.cliClientId,
      refresh_token: tokens.refresh_token as string,
    });
    expect(res.status).toBe(400);
    expect(json(res)).toMatchObject({ error: 'invalid_grant', error_codes: [50034] });
  });

  it('is a new tenant each time without a data dir', async () => {
    const a = await serveDevTenant();
    const b = await serveDevTenant();
    open.push(a, b);
    expect(a.tenant.tenantId).not.toBe(b.tenant.tenantId);
    expect(a.tenant.graphApp.clientSecret).not.toBe(b.tenant.graphApp.clientSecret);
  });

  it('refuses a damaged state file, naming it and saying what to do', async () => {
    const first = await serve();
    await first.close();
    const file = path.join(dataDir, STATE_FILE_NAME);
    const state = JSON.parse(await readFile(file, 'utf8')) as { tenantId: string };
    state.tenantId = 'not-a-guid';
    await writeFile(file, JSON.stringify(state));
    const attempt = DevTenant.open({ publicOrigin: 'https://127.0.0.1:1', browserOrigin: 'http://127.0.0.1:1', directory: DEV_DIRECTORY, dataDir });
    await expect(attempt).rejects.toBeInstanceOf(AccessError);
    await expect(attempt).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining(file) });
    await expect(attempt).rejects.toThrow(/tenantId.*delete it/);
  });
});

describe('dev tenant options', () => {
  it('refuses an origin with a path', async () => {
    const attempt = DevTenant.open({ publicOrigin: 'https://127.0.0.1:4780/x', browserOrigin: 'http://127.0.0.1:4780', directory: DEV_DIRECTORY });
    await expect(attempt).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('"https://127.0.0.1:4780/x"') });
  });

  it('refuses a directory naming an unknown group', async () => {
    const attempt = DevTenant.open({
      publicOrigin: 'https://127.0.0.1:4780',
      browserOrigin: 'http://127.0.0.1:4780',
      directory: { groups: [], users: [{ upn: 'a@contoso.dev', name: 'A', groups: ['sg-missing'] }] },
    });
    await expect(attempt).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('"sg-missing"') });
  });
});
