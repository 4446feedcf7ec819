// A `serve` config pointed at a dev tenant, written the way an admin writes one for a real tenant:
// tenant id, app ids and group object ids, the Graph app's credential (by default its secret from
// an environment variable). For a running `access-broker dev --data DIR` the values come from the
// dev tenant's state file (readDevTenantState).

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const DOCTOR_SECRET_ENV = 'ACCESS_GRAPH_SECRET';

export interface DoctorConfigValues {
  /** The dev tenant's https public origin, e.g. https://127.0.0.1:4780. */
  origin: string;
  tenantId: string;
  cliClientId: string;
  apiClientId: string;
  graphClientId: string;
  /** Group object ids for requesters (the first also approves). */
  groupIds: string[];
  /** The `credential:` mapping as YAML flow text. Default `{ kind: secret, env: ACCESS_GRAPH_SECRET }`. */
  credential?: string;
}

export async function writeDoctorConfig(file: string, v: DoctorConfigValues): Promise<void> {
  await writeFile(
    file,
    [
      ...tenantBlock(v),
      'resources:',
      '  orders-db:',
      '    kind: postgres',
      '    target: db.internal:5432',
      `    requesters: [${v.groupIds.join(', ')}]`,
      `    approvers: [${v.groupIds[0]}]`,
      '    maxDuration: 4h',
      '',
    ].join('\n'),
  );
}

/**
 * The `tenant:` block of a serve config for the dev tenant at `v.origin`. `v2IssuerHosts`: the hosts
 * of the issuers its tokens carry, when the config must accept them (the dev tenant presents itself
 * as the public cloud: login.microsoftonline.com). Default: not written (the authority host).
 */
export function tenantBlock(v: DoctorConfigValues, v2IssuerHosts: readonly string[] = []): string[] {
  return [
    'tenant:',
    `  id: ${v.tenantId}`,
    '  cloud:',
    `    authorityHost: ${v.origin}`,
    '    v1IssuerHost: https://sts.windows.net',
    '    graphHost: https://graph.microsoft.com',
    ...(v2IssuerHosts.length ? [`    v2IssuerHosts: [${v2IssuerHosts.join(', ')}]`] : []),
    `  cliClientId: ${v.cliClientId}`,
    `  audiences: [${v.apiClientId}]`,
    `  cliScope: api://${v.apiClientId}/user_impersonation`,
    '  graph:',
    ...(v.credential?.includes('managedIdentity') ? [] : [`    clientId: ${v.graphClientId}`]),
    `    credential: ${v.credential ?? `{ kind: secret, env: ${DOCTOR_SECRET_ENV} }`}`,
    `    baseUrl: ${v.origin}/graph`,
  ];
}

export interface DevTenantState {
  tenantId: string;
  apps: Record<'cli' | 'api' | 'graph', { clientId: string; clientSecret: string | null }>;
  objectIds: { groups: Record<string, string> };
}

/** IDENTITY_ENDPOINT and IDENTITY_HEADER of the running dev tenant's managed identity endpoint. */
export async function readManagedIdentityEnv(dataDir: string): Promise<Record<string, string>> {
  const text = await readFile(path.join(dataDir, 'tenant', 'managed-identity.env'), 'utf8');
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

export async function readDevTenantState(dataDir: string): Promise<DevTenantState> {
  return JSON.parse(await readFile(path.join(dataDir, 'tenant', 'dev-tenant.json'), 'utf8')) as DevTenantState;
}

/** The config values for a running dev broker at `brokerUrl` (plain HTTP) with that state; `groups` are dev group names. */
export function valuesFromState(brokerUrl: string, state: DevTenantState, groups: string[]): DoctorConfigValues {
  return {
    origin: new URL(brokerUrl).origin.replace(/^http:/, 'https:'),
    tenantId: state.tenantId,
    cliClientId: state.apps.cli.clientId,
    apiClientId: state.apps.api.clientId,
    graphClientId: state.apps.graph.clientId,
    groupIds: groups.map((name) => state.objectIds.groups[name] ?? name),
  };
}
