// `GET /v1/resources`: the resources the caller may request, approve or take as break-glass, with a policy summary.

import type { ResourceSummary, ResourcesResponse } from '../../shared/wire.js';
import type { BrokerApp } from '../app.js';
import type { ResourcePolicy } from '../config/types.js';
import { callerGroups, inAnyGroup } from '../identity/directory.js';
import type { Route } from '../http/router.js';
import { describeConditions } from '../policy/conditions.js';
import { describeGroups } from '../requests/wording.js';
import { chooseDatabaseCredential } from '../tunnel/database-credential.js';
import type { GroupRef } from '../../shared/wire.js';

/** A workload may request what names its client id in `workloads`; a person what their groups allow. */
function summarizeResource(resource: ResourcePolicy, groups: readonly GroupRef[], workload: string | null): ResourceSummary {
  return {
    name: resource.name,
    kind: resource.kind,
    description: resource.description,
    canRequest: workload === null ? inAnyGroup(groups, resource.requesters) : resource.workloads.includes(workload),
    canApprove: inAnyGroup(groups, resource.approvers),
    autoApproved: workload === null ? inAnyGroup(groups, resource.autoApprove) : resource.autoApproveWorkloads.includes(workload),
    canBreakGlass: resource.breakGlass !== undefined && inAnyGroup(groups, resource.breakGlass.groups),
    breakGlassMaxDurationMs: resource.breakGlass?.maxDurationMs ?? null,
    extendMaxTotalMs: resource.extend?.maxTotalMs ?? null,
    approvers: describeGroups(resource.approvers, resource.groupNames),
    approvals: resource.approvals,
    maxDurationMs: resource.maxDurationMs,
    defaultDurationMs: resource.defaultDurationMs,
    reason: resource.reason,
    ticketPattern: resource.ticketPattern,
    database: resource.database,
    // With stored logins, the database user the caller's sessions will run as (so `-- psql` shows it, not a user it never is).
    user: chooseDatabaseCredential(resource, groups)?.user ?? resource.user,
    conditions: describeConditions(resource.conditions),
  };
}

export function resourceRoutes(app: BrokerApp): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/resources',
      auth: 'required',
      handle: async (_ctx, principal): Promise<ResourcesResponse> => {
        const groups = await callerGroups(app.directory, principal);
        const isAdmin = inAnyGroup(groups, app.config.admins);
        const resources = app.config.resources
          .map((resource) => summarizeResource(resource, groups, principal.kind === 'app' ? (principal.appId?.toLowerCase() ?? '') : null))
          .filter((summary) => isAdmin || summary.canRequest || summary.canApprove || summary.canBreakGlass);
        return { resources };
      },
    },
  ];
}
