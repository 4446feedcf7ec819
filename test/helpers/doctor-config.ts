// A `serve` config pointed at a running `access-broker dev` (with --data), written the way an
// admin writes one for a real tenant: the tenant id, app ids and group object ids read from the dev
// tenant's state file, the Graph app's secret passed in an environment variable.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const DOCTOR_SECRET_ENV = 'ACCESS_GRAPH_SECRET';

export interface DevTenantState {
  tenantId: string;
  apps: Record<'cli' | 'api' | 'graph', { clientId: string; clientSecret: string | null }>;
  objectIds: { groups: Record<string, string> };
}

export async function readDevTenantState(dataDir: string): Promise<DevTenantState> {
  return JSON.parse(await readFile(path.join(dataDir, 'tenant', 'dev-tenant.json'), 'utf8')) as DevTenantState;
}

/** Writes the config; `groups` are dev group names (turned into object ids), `tenantId` overrides the real one. */
export async function writeDoctorConfig(file: string, brokerUrl: string, state: DevTenantState, options: { groups: string[]; tenantId?: string }): Promise<void> {
  const origin = new URL(brokerUrl).origin.replace(/^http:/, 'https:');
  const ids = options.groups.map((name) => state.objectIds.groups[name] ?? name);
  await writeFile(
    file,
    [
      'tenant:',
      `  id: ${options.tenantId ?? state.tenantId}`,
      '  cloud:',
      `    authorityHost: ${origin}`,
      '    v1IssuerHost: https://sts.windows.net',
      '    graphHost: https://graph.microsoft.com',
      `  cliClientId: ${state.apps.cli.clientId}`,
      `  audiences: [${state.apps.api.clientId}]`,
      `  cliScope: api://${state.apps.api.clientId}/user_impersonation`,
      '  graph:',
      `    clientId: ${state.apps.graph.clientId}`,
      `    credential: { kind: secret, env: ${DOCTOR_SECRET_ENV} }`,
      `    baseUrl: ${origin}/graph`,
      'resources:',
      '  orders-db:',
      '    kind: postgres',
      '    target: db.internal:5432',
      `    requesters: [${ids.join(', ')}]`,
      `    approvers: [${ids[0]}]`,
      '    maxDuration: 4h',
      '',
    ].join('\n'),
  );
}
