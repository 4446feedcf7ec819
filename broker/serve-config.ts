// The config of `access-broker serve`, read the way a real tenant demands: groups by object id only.
// A refused display name is explained with the tenant's ids for it, so the fix is one paste; that
// needs Graph, so the file is read once more accepting names, just to learn the tenant block.

import type { Client } from '@microsoft/microsoft-graph-client';
import { loadConfigFile } from './config/load.js';
import type { BrokerConfig, TenantConfig } from './config/types.js';
import { graphGroupLookup, withGroupIdSuggestions } from './identity/group-check.js';

/**
 * The serve config from `file`, or a ConfigInvalidError; display names refused in it come with the
 * tenant's matching ids, read through the Graph client `graphFor` builds for the file's tenant.
 */
export async function loadServeConfig(file: string, env: NodeJS.ProcessEnv, graphFor: (tenant: TenantConfig) => Client): Promise<BrokerConfig> {
  try {
    return await loadConfigFile(file, env, { allowDevDirectory: false, requireTenant: true });
  } catch (error) {
    const lenient = await loadConfigFile(file, env, { allowDevDirectory: false, requireTenant: true, allowGroupNames: true }).catch(() => null);
    // Other problems too (or no usable tenant block): report them as they are, without Graph.
    if (lenient?.tenant == null) throw error;
    throw await withGroupIdSuggestions(error, graphGroupLookup(graphFor(lenient.tenant)));
  }
}
