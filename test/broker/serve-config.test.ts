// Reading a serve config: a display name is refused with the tenant's ids for it, read through the
// broker's Graph client (here against the dev tenant's Graph emulator); a file with other problems
// is refused as it is, without asking Graph.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigInvalidError } from '../../broker/config/problems.js';
import { loadServeConfig } from '../../broker/serve-config.js';
import { TENANT_LINES } from '../helpers/tenant-config.js';
import { graphClientFor, serveDevTenant, type Served } from './devtenant/harness.js';

const TENANT: string[] = [...TENANT_LINES];
const ENV = { ACCESS_GRAPH_CLIENT_SECRET: 'not-used-here' };

let served: Served;
let dir: string;

async function configFile(...lines: string[]): Promise<string> {
  const file = path.join(dir, `access-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

async function refusal(file: string, graphAsked: { count: number }): Promise<ConfigInvalidError> {
  const graph = graphClientFor(served, served.tenant.graphApp);
  const error: unknown = await loadServeConfig(file, ENV, () => {
    graphAsked.count++;
    return graph;
  }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigInvalidError);
  return error as ConfigInvalidError;
}

beforeAll(async () => {
  served = await serveDevTenant();
  dir = await mkdtemp(path.join(os.tmpdir(), 'serve-config-'));
});
afterAll(async () => {
  await served.close();
  await rm(dir, { recursive: true, force: true });
});

describe('loadServeConfig', () => {
  it("refuses a display name at its line with the tenant's id for it, ready to paste", async () => {
    const file = await configFile(
      ...TENANT,
      'resources:',
      '  prod-db:',
      '    kind: tcp',
      '    target: db.internal:5432',
      '    requesters: [sg-eng]',
      '    approvers: [0f8e6c1a-3b2d-4c5e-9f7a-1b2c3d4e5f60]',
      '    maxDuration: 1h',
    );
    const asked = { count: 0 };
    const error = await refusal(file, asked);
    const eng = await groupId('sg-eng');
    expect(error.message.split('\n')).toEqual([
      `The broker config ${file} has 1 problem:`,
      expect.stringMatching(
        new RegExp(
          `^${escapeRegex(file)}:13 resources\\.prod-db\\.requesters\\[0\\]: is a group display name; .*the tenant's group "sg-eng" is ${eng}: write \`- \\{ id: ${eng}, name: sg-eng \\}\` \\(got "sg-eng"\\)$`,
        ),
      ),
    ]);
    expect(asked.count).toBe(1);
  });

  it('refuses a file with other problems as it is, without asking Graph', async () => {
    const file = await configFile(
      ...TENANT.map((line) => line.replace('3F2B8C1E-5D4A-4E6F-9A7B-2C1D0E9F8A76', 'contoso.onmicrosoft.com')),
      'resources:',
      '  prod-db:',
      '    kind: tcp',
      '    target: db.internal:5432',
      '    requesters: [sg-eng]',
      '    approvers: [sg-dba]',
      '    maxDuration: 1h',
    );
    const asked = { count: 0 };
    const error = await refusal(file, asked);
    expect(error.message).toContain('tenant.id: must be a GUID');
    expect(error.message).toContain('is a group display name');
    expect(asked.count).toBe(0);
  });
});

async function groupId(name: string): Promise<string> {
  const body = (await graphClientFor(served, served.tenant.graphApp).api('/groups').filter(`mailNickname eq '${name}'`).select('id').get()) as {
    value: Array<{ id: string }>;
  };
  return body.value[0]?.id as string;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
