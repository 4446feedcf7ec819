// `access-broker doctor`'s judgement, pure: the tenant setup the config needs (doctor/facts.ts
// holds what was found) → one result per check, each failure with the fix. No I/O, no clock.

import { describeCredential } from '../../shared/app-token.js';
import type { ApplicationFacts, DoctorFacts, Fetched, GroupFacts } from './facts.js';
import { NOT_TRIED, type DoctorTarget } from './gather.js';

export type CheckStatus = 'pass' | 'fail' | 'unknown';

export interface CheckResult {
  status: CheckStatus;
  /** What holds (pass) or what was checked (fail, unknown). */
  title: string;
  /** Why it failed or could not be checked. */
  problem?: string;
  /** What to do about it. */
  fix?: string;
}

/** Microsoft Graph's application id, the `--api` of `az ad app permission add`. */
export const GRAPH_API_ID = '00000003-0000-0000-c000-000000000000';
/** Graph application permissions (app role ids) the broker's Graph app needs, and doctor's optional one. */
export const GRAPH_PERMISSION_IDS = {
  'GroupMember.Read.All': '98830695-27a2-44f7-8c18-0c3ebc9698f6',
  'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214',
  'Application.Read.All': '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30',
} as const;
/** Permissions that each cover reading group memberships / users (a broader one also does). */
const MEMBERSHIP_READ = [
  'GroupMember.Read.All',
  'Group.Read.All',
  'Group.ReadWrite.All',
  'GroupMember.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
const USER_READ = ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];

export interface CheckInput {
  target: DoctorTarget;
  /** `scp` a user token needs (tenant.requiredScope) and the scope the CLI asks for (tenant.cliScope). */
  requiredScope: string;
  cliScope: string;
  requiredAppRole: string;
  /** Names written beside group ids in the config, by id. */
  groupLabels: Readonly<Record<string, string>>;
}

export function runChecks(input: CheckInput, facts: DoctorFacts): CheckResult[] {
  return [
    ...discoveryChecks(input, facts),
    ...graphChecks(input, facts),
    ...facts.groups.map((g) => groupCheck(g.id, g.read, input)),
    ...(facts.graphToken.ok
      ? []
      : [
          {
            status: 'unknown' as const,
            title: `${input.target.groupIds.length} policy group(s) and the API and CLI app registrations`,
            problem: 'not checked without a Graph token',
            fix: 'fix the Graph token first',
          },
        ]),
    ...(facts.apiApp ? apiAppChecks(input, facts.apiApp) : []),
    ...(facts.cliApp ? [cliAppCheck(input, facts.cliApp)] : []),
  ];
}

/** 0 when nothing failed ("could not check" is not a failure: it needs an optional permission). */
export function exitCodeOf(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

const host = (url: string): string => (URL.canParse(url) ? new URL(url).host : url);

function discoveryChecks({ target }: CheckInput, facts: DoctorFacts): CheckResult[] {
  const title = `OpenID discovery for tenant ${target.tenantId} at ${host(target.authority)}`;
  if (!facts.discovery.ok) {
    const { discovery } = facts;
    const wrongTenant = discovery.code === 'invalid_tenant' || /AADSTS90002/.test(discovery.message);
    return [
      {
        status: 'fail',
        title,
        problem: discovery.message,
        fix: wrongTenant
          ? `tenant.id is not a tenant of ${host(target.authority)}: copy the Directory (tenant) ID from the Entra admin center → Overview (az account show --query tenantId -o tsv), and check tenant.cloud`
          : `let the broker reach ${host(target.authority)} over HTTPS (firewall, proxy), and check tenant.cloud`,
      },
    ];
  }
  const results: CheckResult[] = [];
  if (!facts.discovery.value.issuer.includes(target.tenantId)) {
    results.push({
      status: 'fail',
      title,
      problem: `the discovery document names issuer ${facts.discovery.value.issuer}, not tenant ${target.tenantId}`,
      fix: 'use the tenant id (a GUID), not a domain name, in tenant.id',
    });
  } else {
    results.push({ status: 'pass', title });
  }
  const jwks = facts.jwks;
  if (jwks?.ok && jwks.value.keys > 0)
    results.push({
      status: 'pass',
      title: `token signing keys (JWKS) reachable: ${jwks.value.keys} key${jwks.value.keys === 1 ? '' : 's'} at ${host(facts.discovery.value.jwksUri)}`,
    });
  else
    results.push({
      status: 'fail',
      title: `token signing keys (JWKS) at ${facts.discovery.value.jwksUri}`,
      problem: jwks && !jwks.ok ? jwks.message : 'no keys published',
      fix: `let the broker reach ${host(facts.discovery.value.jwksUri)} over HTTPS`,
    });
  return results;
}

function credentialFix(target: DoctorTarget): string {
  const appId = target.graph.clientId ?? '(the managed identity)';
  const { credential } = target.graph;
  switch (credential.kind) {
    case 'secret':
      return `put the client secret's Value (not its ID) in $${credential.env || 'the variable'}; if it expired, make a new one: az ad app credential reset --id ${appId} --append`;
    case 'certificate':
      return `register this certificate on app ${appId}: az ad app credential reset --id ${appId} --cert @${credential.file} --append (the PEM's public part is enough)`;
    case 'federated':
      return `add a federated credential on app ${appId} whose issuer and subject are those of the token in ${credential.tokenFile}: az ad app federated-credential create --id ${appId} --parameters fic.json (docs/entra-setup.md)`;
    case 'managedIdentity':
      return "turn on the managed identity of the broker's host (App Service: Identity → System assigned; VM: az vm identity assign) and, for a user-assigned one, write its client id as credential.clientId";
  }
}

function graphChecks({ target }: CheckInput, facts: DoctorFacts): CheckResult[] {
  const how = describeCredential(target.graph);
  // A managed identity is its own app: "as system-assigned managed identity" says it all.
  const title =
    target.graph.credential.kind === 'managedIdentity'
      ? `Microsoft Graph token as ${how}`
      : `Microsoft Graph token for app ${target.graph.clientId} with ${how}`;
  if (!facts.graphToken.ok && facts.graphToken.code === NOT_TRIED) {
    return [{ status: 'unknown', title, problem: facts.graphToken.message, fix: 'fix the discovery check above first' }];
  }
  if (!facts.graphToken.ok) {
    return [{ status: 'fail', title, problem: facts.graphToken.message, fix: credentialFix(target) }];
  }
  const results: CheckResult[] = [{ status: 'pass', title }];
  const roles = facts.graphToken.value.roles;
  const missing = [
    ...(roles.some((r) => MEMBERSHIP_READ.includes(r)) ? [] : ['GroupMember.Read.All' as const]),
    ...(roles.some((r) => USER_READ.includes(r)) ? [] : ['User.Read.All' as const]),
  ];
  if (missing.length === 0) {
    results.push({ status: 'pass', title: `Graph application permissions granted: ${roles.join(', ')}` });
  } else {
    const appId = target.graph.clientId ?? '<identity client id>';
    const add = missing.map((m) => `${GRAPH_PERMISSION_IDS[m]}=Role`).join(' ');
    results.push({
      status: 'fail',
      title: 'Graph application permissions GroupMember.Read.All and User.Read.All',
      problem: `the token grants ${roles.length ? roles.join(', ') : 'none'}; missing ${missing.join(', ')}`,
      fix:
        target.graph.credential.kind === 'managedIdentity'
          ? `assign ${missing.join(', ')} to the managed identity's service principal (az rest POST …/servicePrincipals/{id}/appRoleAssignments, docs/entra-setup.md)`
          : `az ad app permission add --id ${appId} --api ${GRAPH_API_ID} --api-permissions ${add} && az ad app permission admin-consent --id ${appId}`,
    });
  }
  return results;
}

function groupCheck(id: string, read: Fetched<GroupFacts | null>, input: CheckInput): CheckResult {
  const label = input.groupLabels[id];
  const named = label ? `group ${id} (${label})` : `group ${id}`;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
    return {
      status: 'fail',
      title: `group "${id}"`,
      problem: 'is a display name; display names are not unique in Entra',
      fix: `reference the group by object id: az ad group show --group "${id}" --query id -o tsv`,
    };
  }
  if (!read.ok) {
    const denied = read.status === 403;
    return {
      status: 'fail',
      title: named,
      problem: `Graph answered ${read.status ?? 'nothing'}${read.code ? ` ${read.code}` : ''}: ${read.message}`,
      fix: denied ? 'grant the Graph app GroupMember.Read.All (application) with admin consent' : 'check that the broker can reach Microsoft Graph',
    };
  }
  const group = read.value;
  if (group === null) {
    return {
      status: 'fail',
      title: named,
      problem: 'does not exist in the tenant',
      fix: `use the group's object id${label ? `: az ad group show --group "${label}" --query id -o tsv` : ' (Entra admin center → Groups → the group → Object ID)'}`,
    };
  }
  const name = group.displayName === null ? 'name hidden (limited information)' : `"${group.displayName}"`;
  const members = group.members.ok ? `${group.members.value} member${group.members.value === 1 ? '' : 's'}` : `members not counted (${group.members.message})`;
  if (!group.securityEnabled) {
    return {
      status: 'fail',
      title: `${named} ${name}`,
      problem: 'is a Microsoft 365 group, not a security group (users may be able to create and join such groups)',
      fix: 'reference a security group: az ad group create --display-name NAME --mail-nickname NAME (security by default), then use its id',
    };
  }
  const renamed = label && group.displayName !== null && label !== group.displayName ? ` (the config labels it "${label}")` : '';
  return { status: 'pass', title: `${named} ${name}: security group, ${members}${renamed}` };
}

function notReadable(read: Fetched<unknown>, what: string, manual: string): CheckResult {
  if (read.ok) throw new Error('notReadable called with a successful read');
  if (read.status === 403) {
    return {
      status: 'unknown',
      title: what,
      problem: 'could not check: the Graph app lacks Application.Read.All (optional, only doctor uses it)',
      fix: `grant it to let doctor check (az ad app permission add … ${GRAPH_PERMISSION_IDS['Application.Read.All']}=Role), or check by hand: ${manual}`,
    };
  }
  return { status: 'unknown', title: what, problem: `could not check: ${read.message}`, fix: manual };
}

function apiAppChecks(input: CheckInput, read: Fetched<ApplicationFacts | null>): CheckResult[] {
  const { target, requiredScope, requiredAppRole, cliScope } = input;
  const what = `the API app (${target.audiences.join(', ')})`;
  if (!read.ok)
    return [
      notReadable(
        read,
        `${what}: scope ${requiredScope}, app role ${requiredAppRole}, token version`,
        'Entra admin center → App registrations → the API app → Expose an API, App roles, Manifest',
      ),
    ];
  const app = read.value;
  if (app === null) {
    return [
      {
        status: 'fail',
        title: what,
        problem: 'no app registration has that client id or App ID URI',
        fix: "tenant.audiences must name the API app's application (client) id and/or its App ID URI (Expose an API → Application ID URI)",
      },
    ];
  }
  const name = `API app "${app.displayName}" (${app.appId})`;
  const results: CheckResult[] = [];
  const scope = app.scopes.find((s) => s.value === requiredScope);
  const resource = cliScope.slice(0, cliScope.length - requiredScope.length - 1);
  const scopeTitle = `${name} exposes the delegated scope ${cliScope}`;
  if (!scope?.isEnabled) {
    results.push({
      status: 'fail',
      title: scopeTitle,
      problem: scope ? 'the scope is disabled' : `it has no scope "${requiredScope}"`,
      fix: `add it: Expose an API → Add a scope "${requiredScope}" (docs/entra-setup.md, az ad app update --id ${app.appId} --set api=@api.json)`,
    });
  } else if (resource !== app.appId && !app.identifierUris.includes(resource)) {
    results.push({
      status: 'fail',
      title: scopeTitle,
      problem: `tenant.cliScope names ${resource}, which is neither the app's client id nor one of its App ID URIs (${app.identifierUris.join(', ') || 'none'})`,
      fix: `set tenant.cliScope to ${app.identifierUris[0] ?? `api://${app.appId}`}/${requiredScope}`,
    });
  } else {
    results.push({ status: 'pass', title: scopeTitle });
  }
  const role = app.appRoles.find((r) => r.value === requiredAppRole);
  const roleTitle = `${name} defines the app role ${requiredAppRole} for applications`;
  if (!role?.isEnabled || !role.allowedMemberTypes.includes('Application')) {
    results.push({
      status: 'fail',
      title: roleTitle,
      problem: !role ? `it has no app role "${requiredAppRole}"` : !role.isEnabled ? 'the role is disabled' : 'the role is not assignable to applications',
      fix: `App roles → Create app role "${requiredAppRole}", allowed member types: Applications (az ad app update --id ${app.appId} --app-roles @roles.json)`,
    });
  } else {
    results.push({ status: 'pass', title: roleTitle });
  }
  // v2 tokens carry the client id as `aud`; v1 tokens (null or 1) usually the App ID URI.
  const version = app.requestedAccessTokenVersion ?? 1;
  const expectedAudiences = version === 2 ? [app.appId] : app.identifierUris;
  const versionTitle = `${name} issues v${version} access tokens, whose audience tenant.audiences accepts`;
  if (expectedAudiences.some((a) => target.audiences.includes(a))) {
    results.push({ status: 'pass', title: versionTitle });
  } else {
    results.push({
      status: 'fail',
      title: `${name} token version and tenant.audiences`,
      problem: `v${version} tokens carry aud ${expectedAudiences.join(' or ') || '(an App ID URI the app does not have)'}, which tenant.audiences (${target.audiences.join(', ')}) does not list`,
      fix:
        version === 2
          ? `add ${app.appId} to tenant.audiences`
          : `make the app issue v2 tokens: az ad app update --id ${app.appId} --set api.requestedAccessTokenVersion=2 (or add its App ID URI to tenant.audiences)`,
    });
  }
  return results;
}

function cliAppCheck({ target }: CheckInput, read: Fetched<ApplicationFacts | null>): CheckResult {
  const what = `the CLI app ${target.cliClientId} allows public client flows (device code)`;
  if (!read.ok) return notReadable(read, what, 'Entra admin center → App registrations → the CLI app → Authentication → Allow public client flows: Yes');
  const app = read.value;
  if (app === null)
    return {
      status: 'fail',
      title: what,
      problem: 'no app registration has that client id',
      fix: "set tenant.cliClientId to the CLI app's Application (client) ID",
    };
  if (app.isFallbackPublicClient === true)
    return { status: 'pass', title: `CLI app "${app.displayName}" (${app.appId}) allows public client flows (device code)` };
  return {
    status: 'fail',
    title: `CLI app "${app.displayName}" (${app.appId}) allows public client flows`,
    problem: 'public client flows are off, so `access login` (device code) is refused with AADSTS7000218',
    fix: `az ad app update --id ${app.appId} --is-fallback-public-client true (admin center: Authentication → Allow public client flows: Yes)`,
  };
}
