// A running `access-broker dev` process changes group membership when told from outside: a script
// (test/helpers/tunnel-broker.ts DirectoryAdmin) reads the directory admin app's id and secret from
// `<data>/tenant/dev-tenant.json`, gets a client-credentials token from the dev tenant, and calls
// Graph's member `$ref` endpoints. The broker (groupCacheSeconds 0 here, so whoami reads Graph
// each time) sees the change at once.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WhoAmIResponse } from '../../shared/wire.js';
import { login, runCli, startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';
import { DirectoryAdmin } from '../helpers/tunnel-broker.js';

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

    const admin = new DirectoryAdmin(broker.url, dataDir);
    await admin.removeFromGroup('priya@payments.dev', 'team');
    expect(await groupsOf(home)).toEqual([]);

    await admin.addToGroup('priya@payments.dev', 'team');
    expect(await groupsOf(home)).toEqual(['team']);
  });
});
