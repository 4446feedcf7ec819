// Start-up checks of the policy's groups against the tenant (`access-broker serve`):
//   - a display name in the config is refused (config/group-refs.ts); here each refusal gets the
//     ids the tenant has for that name, so the fix is one paste — several groups of that name are
//     all listed and none is chosen, since picking one is exactly the mistake being prevented;
//   - a name written beside an id as a label is compared with the tenant's name for that id, and
//     a difference is a warning (the label is for people; matching is by id only).

import type { Client } from '@microsoft/microsoft-graph-client';
import { ConfigInvalidError, type LocatedProblem } from '../config/problems.js';
import { groupRefsOf, isGroupId, isGroupNameProblem } from '../config/group-refs.js';
import type { BrokerConfig } from '../config/types.js';
import { CONSISTENCY_HEADER } from './graph-directory.js';

/** Groups listed for one name at most; more than this many same-named groups is itself the finding. */
export const MAX_GROUPS_PER_NAME = 20;

export interface TenantGroup {
  id: string;
  /** Null when Graph shows the app limited information (no displayName). */
  displayName: string | null;
}

/** What the checks ask the tenant. */
export interface GroupLookup {
  /** Groups whose display name is `name` (Entra compares without regard to case). */
  named(name: string): Promise<TenantGroup[]>;
  /** The group with object id `id`, or null when the tenant has none. */
  byId(id: string): Promise<TenantGroup | null>;
}

/** A GroupLookup over the broker's Graph client. */
export function graphGroupLookup(client: Client): GroupLookup {
  return {
    async named(name) {
      const filter = `displayName eq '${name.replace(/'/g, "''")}'`;
      const body = (await client
        .api('/groups')
        .header(CONSISTENCY_HEADER.name, CONSISTENCY_HEADER.value)
        .query({ $filter: filter, $select: 'id,displayName', $top: String(MAX_GROUPS_PER_NAME) })
        .get()) as { value?: Array<{ id?: unknown; displayName?: unknown }> };
      return (body.value ?? []).flatMap((g) =>
        typeof g.id === 'string' ? [{ id: g.id, displayName: typeof g.displayName === 'string' ? g.displayName : null }] : [],
      );
    },
    async byId(id) {
      try {
        const g = (await client
          .api(`/groups/${encodeURIComponent(id)}`)
          .select('id,displayName')
          .get()) as { id?: unknown; displayName?: unknown };
        return { id, displayName: typeof g.displayName === 'string' ? g.displayName : null };
      } catch (error) {
        if ((error as { statusCode?: unknown }).statusCode === 404) return null;
        throw error;
      }
    },
  };
}

/**
 * `error` again, with the tenant's ids added to each refused display name; any other error (or a
 * config without such problems) is returned as it is.
 */
export async function withGroupIdSuggestions(error: unknown, lookup: GroupLookup): Promise<unknown> {
  if (!(error instanceof ConfigInvalidError) || !error.problems.some(isGroupNameProblem)) return error;
  const problems = await Promise.all(
    error.problems.map(async (problem): Promise<LocatedProblem> => {
      if (!isGroupNameProblem(problem) || typeof problem.got !== 'string') return problem;
      return { ...problem, reason: `${problem.reason}; ${await suggestion(problem.got, lookup)}` };
    }),
  );
  return new ConfigInvalidError(error.source, problems);
}

async function suggestion(name: string, lookup: GroupLookup): Promise<string> {
  let groups: TenantGroup[];
  try {
    groups = await lookup.named(name);
  } catch (error) {
    return `could not look "${name}" up in the tenant (${error instanceof Error ? error.message.split('\n')[0] : String(error)}) — find its object id in the Entra admin center`;
  }
  if (groups.length === 0) return `the tenant has no group named "${name}"`;
  const [only] = groups;
  if (groups.length === 1 && only) return `the tenant's group "${only.displayName ?? name}" is ${only.id}: write \`- { id: ${only.id}, name: ${name} }\``;
  const listed = groups.map((g) => `${g.id}${g.displayName ? ` ("${g.displayName}")` : ''}`).join(', ');
  const more = groups.length >= MAX_GROUPS_PER_NAME ? ` (the first ${MAX_GROUPS_PER_NAME})` : '';
  return `the tenant has ${groups.length} groups named "${name}"${more}: ${listed} — they are different groups; find out which one you mean and write its id (the broker does not choose)`;
}

/**
 * The policy's group ids as the tenant has them: warnings for an id that names no group and for a
 * label that differs from the group's name in the tenant, and the tenant's names (for people, in
 * messages and listings: withGroupNames). Never throws: the checks are advice; matching is by id.
 */
export async function checkPolicyGroups(config: BrokerConfig, lookup: GroupLookup): Promise<{ warnings: string[]; names: Record<string, string> }> {
  const labels = config.groupLabels ?? {};
  const seen = new Map<string, string>();
  for (const { where, ref } of groupRefsOf(config)) if (isGroupId(ref) && !seen.has(ref)) seen.set(ref, where);
  const warnings: string[] = [];
  const names: Record<string, string> = {};
  for (const [id, where] of seen) {
    let group: TenantGroup | null;
    try {
      group = await lookup.byId(id);
    } catch (error) {
      warnings.push(
        `could not check the policy's groups against the tenant (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); matching is by id either way`,
      );
      break;
    }
    const label = labels[id];
    if (group?.displayName) names[id] = group.displayName;
    if (group === null) {
      warnings.push(`${where}: group ${id}${label ? ` ("${label}")` : ''} does not exist in the tenant — nobody matches it; fix the id or remove it`);
    } else if (label !== undefined && group.displayName !== null && group.displayName !== label) {
      warnings.push(
        `${where}: group ${id} is labelled "${label}" in the config but named "${group.displayName}" in the tenant — the id decides; update the label if the group was renamed, or check the id`,
      );
    }
  }
  return { warnings, names };
}

/**
 * `config` with `names` (the tenant's, by object id) added to the names people see beside group
 * ids; the config's own labels fill in where the tenant gave none. Called before the broker is built.
 */
export function withGroupNames(config: BrokerConfig, names: Readonly<Record<string, string>>): BrokerConfig {
  const groupNames = { ...config.groupLabels, ...names };
  if (Object.keys(groupNames).length === 0) return config;
  return { ...config, groupLabels: groupNames, resources: config.resources.map((resource) => ({ ...resource, groupNames })) };
}
