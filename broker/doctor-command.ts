// `access-broker doctor --config FILE`: checks the Entra setup a `serve` config relies on, against
// the tenant itself, and says how to fix each thing that is wrong. Reads (gather.ts) → pure checks
// (checks.ts) → one formatter (format.ts). Exit 0 only when nothing needed is missing.

import { HttpTransport } from '../shared/http-transport.js';
import { AccessError } from '../shared/errors.js';
import { loadConfigFile } from './config/load.js';
import type { BrokerConfig, TenantConfig } from './config/types.js';
import { exitCodeOf, runChecks } from './doctor/checks.js';
import { formatResults } from './doctor/format.js';
import { gatherFacts, type DoctorTarget } from './doctor/gather.js';
import { graphScopeOf } from './identity/clouds.js';
import { identityFromTenant } from './identity/identity-settings.js';

export interface DoctorOptions {
  configFile: string;
  env: NodeJS.ProcessEnv;
  /**
   * The tenant is an `access-broker dev` on loopback serving plain HTTP: reach its https origins
   * (authority, Graph) over plain HTTP, as the CLI does when the dev broker says so. Default false.
   */
  devTenantPlaintext?: boolean;
}

export async function runDoctor(options: DoctorOptions): Promise<{ lines: string[]; exitCode: 0 | 1 }> {
  const config = await loadConfigFile(options.configFile, options.env, { allowDevDirectory: false, requireTenant: true });
  if (!config.tenant) throw new AccessError('config_invalid', `${options.configFile}: doctor checks a \`tenant\` block, and this file has none`);
  const tenant = config.tenant;
  const target = doctorTarget(config, tenant);
  const plaintext = options.devTenantPlaintext ? [new URL(target.authority).origin, new URL(target.graph.baseUrl).origin] : [];
  const facts = await gatherFacts(target, new HttpTransport({ plaintextOrigins: [...new Set(plaintext)] }));
  const results = runChecks(
    { target, requiredScope: tenant.requiredScope, cliScope: tenant.cliScope, requiredAppRole: tenant.requiredAppRole, groupLabels: config.groupLabels ?? {} },
    facts,
  );
  return { lines: formatResults(results), exitCode: exitCodeOf(results) };
}

/** What doctor reads, from the config: the tenant's identity settings and every group the policy names. */
export function doctorTarget(config: BrokerConfig, tenant: TenantConfig): DoctorTarget {
  const identity = identityFromTenant(tenant);
  const groups = new Set<string>();
  for (const resource of config.resources) {
    const credentialGroups = resource.credentials.flatMap((credential) => credential.groups);
    const breakGlassGroups = resource.breakGlass?.groups ?? [];
    for (const id of [...resource.requesters, ...resource.approvers, ...resource.autoApprove, ...credentialGroups, ...breakGlassGroups]) groups.add(id);
  }
  for (const id of [...config.auditors, ...config.admins]) groups.add(id);
  return {
    tenantId: identity.tenantId,
    authority: identity.authority,
    graph: {
      ...identity.graph,
      authority: identity.authority,
      // A cloud written out host by host may be one MSAL does not know: skip its instance discovery.
      customAuthority: identity.cloud.name === 'custom',
      scope: graphScopeOf(identity.cloud.graphHost),
    },
    audiences: identity.audiences,
    cliClientId: identity.cliClientId,
    groupIds: [...groups],
  };
}
