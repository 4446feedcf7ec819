// A running `access-broker dev` process changes group membership when told from outside: a test
// reads the directory admin app's id and secret from `<data>/tenant/dev-tenant.json`, gets a
// client-credentials token from the dev tenant, and calls Graph's member `$ref` endpoints. The
// broker (groupCacheSeconds 0 here, so whoami reads Graph each time) sees the change at once.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WhoAmIResponse } from '../../shared/wire.js';
import { login, runCli, startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';

const CONFIG = `groupCacheSeconds: 0
resources:
  orders-db:
    kind: postgres
    target: 127.0.0.1:5432
    requesters: [team]
    approvers: [leads]
    maxDuration: 1h
devTenant:
  groups:
    - name: team
    - name: leads
  users:
    - { upn: priya@payments.dev, name: Priya Developer, groups: [team] }
    - { upn: marco@payments.dev, name: Marco Lead, groups: [leads] }
`;

interface TenantState {
  tenantId: string;
  apps: { directoryAdmin: { clientId: string; clientSecret: string } };
}

let broker: DevBrokerProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = await tempDir('dev-admin');
  const config = path.join(dataDir, 'dev.yaml');
  await writeFile(config, CONFIG);
  broker = await startDevBrokerProcess(['--data', dataDir, '--config', config]);
});

afterAll(async () => {
  await broker?.stop();
});

/** What a script does: an app-only Graph token for the directory admin app, from the state file. */
async function adminToken(): Promise<string> {
  const state = JSON.parse(await readFile(path.join(dataDir, 'tenant', 'dev-tenant.json'), 'utf8')) as TenantState;
  const res = await fetch(`${broker.url}/${state.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: state.apps.directoryAdmin.clientId,
      client_secret: state.apps.directoryAdmin.clientSecret,
      scope: 'https://graph.microsoft.com/.default',
    }).toString(),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function graph(token: string, method: string, pathAndQuery: string, body?: unknown): Promise<Response> {
  return fetch(`${broker.url}/graph/v1.0${pathAndQuery}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

async function groupsOf(home: string): Promise<string[]> {
  const result = await runCli(['whoami', '--json'], home);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as WhoAmIResponse).groups.map((g) => g.displayName);
}

describe('access-broker dev: membership changed from outside the process', () => {
  it('removes priya from "team" and adds her back through Graph, and the broker sees each change', async () => {
    const home = await tempDir('priya');
    expect((await login(broker.url, home, 'priya@payments.dev')).code).toBe(0);
    expect(await groupsOf(home)).toEqual(['team']);

    const token = await adminToken();
    const user = (await (await graph(token, 'GET', '/users/priya@payments.dev')).json()) as { id: string };
    const found = (await (await graph(token, 'GET', `/groups?$filter=${encodeURIComponent("displayName eq 'team'")}`)).json()) as { value: Array<{ id: string }> };
    const team = found.value[0]?.id as string;

    expect((await graph(token, 'DELETE', `/groups/${team}/members/${user.id}/$ref`)).status).toBe(204);
    expect(await groupsOf(home)).toEqual([]);

    const added = await graph(token, 'POST', `/groups/${team}/members/$ref`, { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${user.id}` });
    expect(added.status).toBe(204);
    expect(await groupsOf(home)).toEqual(['team']);
  });
});
