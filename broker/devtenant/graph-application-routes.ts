// Graph emulator routes an admin (or `access-broker doctor`) uses on the tenant's setup rather than
// its members: `/applications` (list with `$filter=appId eq '…'`, get, PATCH the settings
// applications.ts keeps, add/list federated identity credentials) and a group's member count
// (`/groups/{id}/members/$count`, `/groups/{id}/transitiveMembers/$count`, which Graph answers only
// with `ConsistencyLevel: eventual`). Same token checks, errors and outage switch as graph-routes.ts.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  applicationJson,
  FEDERATION_AUDIENCE,
  MAX_FEDERATED_CREDENTIALS,
  registerCertificate,
  type ApplicationObject,
  type AppRole,
  type PermissionScope,
} from './applications.js';
import type { TenantContext } from './context.js';
import { authorizeGraphCall, MEMBERSHIP_READ_ROLES } from './graph-auth.js';
import { type GraphFailure, GraphFailures, readGraphJson, withGraphErrors } from './graph-errors.js';
import { filter, page, select, type GraphObject } from './graph-odata.js';
import { sendJson } from '../http/respond.js';

/** Application permissions that allow reading app registrations. */
export const APPLICATION_READ_ROLES = ['Application.Read.All', 'Application.ReadWrite.All', 'Directory.Read.All'] as const;
/** Application permissions that allow changing app registrations. */
export const APPLICATION_WRITE_ROLES = ['Application.ReadWrite.All'] as const;

const PREFIX = '/graph/v1.0/';
/** `applications(appId='…')`: Graph's alternate key for an application. */
const BY_APP_ID = /^applications\(appId='([^']+)'\)$/;
/** Properties of an application this emulator lets a PATCH change. */
const PATCHABLE = new Set(['isFallbackPublicClient', 'identifierUris', 'api', 'appRoles', 'keyCredentials']);

/** Answers one of these routes; false when the path is another Graph route (graph-routes.ts answers it). */
export async function handleGraphApplications(ctx: TenantContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  if (!url.pathname.startsWith(PREFIX)) return false;
  const segments = url.pathname
    .slice(PREFIX.length)
    .split('/')
    .map((s) => decodeURIComponent(s));
  const [first, id, sub, count] = segments;
  const isCount = first === 'groups' && id && (sub === 'members' || sub === 'transitiveMembers') && count === '$count' && segments.length === 4;
  const isApplications = first === 'applications' || BY_APP_ID.test(first ?? '');
  if (!isCount && !isApplications) return false;
  await withGraphErrors(req, res, ctx.now, async () => {
    if (!ctx.graphAvailable()) throw GraphFailures.unavailable();
    if (isCount) {
      const total = await memberCount(ctx, req, id, sub === 'transitiveMembers');
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(String(total));
      return;
    }
    const byAppId = BY_APP_ID.exec(first ?? '')?.[1];
    const body = await applications(ctx, req, url, byAppId ?? id, byAppId ? segments.slice(1) : segments.slice(2));
    if (body === null) {
      res.writeHead(204, { 'cache-control': 'no-store' });
      res.end();
    } else {
      sendJson(res, req.method === 'POST' ? 201 : 200, body);
    }
  });
  return true;
}

async function memberCount(ctx: TenantContext, req: IncomingMessage, groupId: string | undefined, transitive: boolean): Promise<number> {
  if ((req.method ?? 'GET') !== 'GET') throw GraphFailures.methodNotAllowed(req.method ?? '');
  await authorizeGraphCall(ctx, req, MEMBERSHIP_READ_ROLES);
  // Graph counts directory objects only on its "advanced query" path.
  if (String(req.headers.consistencylevel ?? '').toLowerCase() !== 'eventual') {
    throw GraphFailures.badRequest('Count is not currently supported without the header ConsistencyLevel: eventual.');
  }
  const group = ctx.directory.groupById(groupId ?? '');
  if (!group) throw GraphFailures.notFound(groupId ?? '');
  const users = ctx.directory.users();
  const direct = users.filter((u) => u.groups.has(group.name)).length;
  if (!transitive) return direct + ctx.directory.groups().filter((g) => g.memberOf.includes(group.name)).length;
  const nested = new Set<string>();
  for (const user of users) {
    for (const g of ctx.directory.transitiveGroups(user)) if (g.id === group.id) nested.add(user.oid);
  }
  return nested.size + ctx.directory.groups().filter((g) => g.memberOf.includes(group.name)).length;
}

async function applications(ctx: TenantContext, req: IncomingMessage, url: URL, id: string | undefined, rest: readonly string[]): Promise<GraphObject | null> {
  const method = req.method ?? 'GET';
  const base = `${ctx.publicOrigin}/graph/v1.0`;
  if (id === undefined || id === '') {
    if (method !== 'GET') throw GraphFailures.methodNotAllowed(method);
    await authorizeGraphCall(ctx, req, APPLICATION_READ_ROLES);
    const all =
      byIdentifierUri(ctx.applications.list().map(applicationJson), url) ??
      filter(ctx.applications.list().map(applicationJson), url, ['appId', 'displayName', 'id']);
    const result = page(all, url, ctx.publicOrigin);
    return { '@odata.context': `${base}/$metadata#applications`, ...(result.nextLink ? { '@odata.nextLink': result.nextLink } : {}), value: result.value };
  }
  const application = ctx.applications.find(id);
  if (rest.length === 0) {
    if (method === 'GET') {
      await authorizeGraphCall(ctx, req, APPLICATION_READ_ROLES);
      if (!application) throw GraphFailures.notFound(id);
      return { '@odata.context': `${base}/$metadata#applications/$entity`, ...select(applicationJson(application), url) };
    }
    if (method !== 'PATCH') throw GraphFailures.methodNotAllowed(method);
    await authorizeGraphCall(ctx, req, APPLICATION_WRITE_ROLES);
    if (!application) throw GraphFailures.notFound(id);
    patch(application, await jsonObject(req));
    return null;
  }
  if (rest.length === 1 && rest[0] === 'federatedIdentityCredentials') {
    await authorizeGraphCall(ctx, req, method === 'GET' ? APPLICATION_READ_ROLES : APPLICATION_WRITE_ROLES);
    if (!application) throw GraphFailures.notFound(id);
    if (method === 'GET')
      return {
        '@odata.context': `${base}/$metadata#applications('${application.id}')/federatedIdentityCredentials`,
        value: application.federatedCredentials.map((c) => ({ ...c })),
      };
    if (method !== 'POST') throw GraphFailures.methodNotAllowed(method);
    return { ...addFederatedCredential(application, await jsonObject(req)) };
  }
  throw GraphFailures.unknownSegment(rest.join('/'));
}

/** `$filter=identifierUris/any(x:x eq '…')`, Graph's lambda filter on a collection property; null for any other filter. */
function byIdentifierUri(applications: readonly GraphObject[], url: URL): readonly GraphObject[] | null {
  const match = /^\s*identifierUris\/any\((\w+):\1 eq '((?:[^']|'')*)'\)\s*$/.exec(url.searchParams.get('$filter') ?? '');
  if (!match) return null;
  const uri = (match[2] ?? '').replace(/''/g, "'").toLowerCase();
  return applications.filter((a) => (a.identifierUris as string[]).some((u) => u.toLowerCase() === uri));
}

async function jsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readGraphJson(req);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw GraphFailures.badRequest('The request body must be a JSON object.');
  return body as Record<string, unknown>;
}

const invalid = (property: string, why: string): GraphFailure => GraphFailures.badRequest(`Invalid value for property '${property}': ${why}.`);

/** Applies a PATCH the way Graph does: each given property replaces the old value whole. */
function patch(application: ApplicationObject, body: Record<string, unknown>): void {
  for (const key of Object.keys(body)) {
    if (!PATCHABLE.has(key))
      throw GraphFailures.badRequest(`Property '${key}' does not exist on type 'microsoft.graph.application' or cannot be changed in the dev tenant.`);
  }
  // Validate everything before changing anything: a refused PATCH changes nothing.
  const next: Partial<ApplicationObject> = {};
  if ('isFallbackPublicClient' in body) {
    if (typeof body.isFallbackPublicClient !== 'boolean') throw invalid('isFallbackPublicClient', 'expected true or false');
    next.isFallbackPublicClient = body.isFallbackPublicClient;
  }
  if ('identifierUris' in body) next.identifierUris = stringList(body.identifierUris, 'identifierUris');
  if ('appRoles' in body) next.appRoles = list(body.appRoles, 'appRoles').map((role) => appRole(role));
  if ('api' in body) {
    const api = body.api as Record<string, unknown> | null;
    if (typeof api !== 'object' || api === null) throw invalid('api', 'expected an object');
    if ('requestedAccessTokenVersion' in api) {
      const version = api.requestedAccessTokenVersion;
      if (version !== null && version !== 1 && version !== 2) throw invalid('api.requestedAccessTokenVersion', 'expected 1, 2 or null');
      next.requestedAccessTokenVersion = version;
    }
    if ('oauth2PermissionScopes' in api)
      next.oauth2PermissionScopes = list(api.oauth2PermissionScopes, 'api.oauth2PermissionScopes').map((s) => permissionScope(s));
  }
  if ('keyCredentials' in body) {
    next.certificates = list(body.keyCredentials, 'keyCredentials').map((credential, index) => {
      const c = credential as Record<string, unknown>;
      if (c.type !== 'AsymmetricX509Cert' || c.usage !== 'Verify' || typeof c.key !== 'string') {
        throw invalid(`keyCredentials[${index}]`, "expected { type: 'AsymmetricX509Cert', usage: 'Verify', key: <base64 DER certificate> }");
      }
      try {
        return registerCertificate(c.key, typeof c.displayName === 'string' ? c.displayName : `CN=certificate ${index + 1}`);
      } catch {
        throw invalid(`keyCredentials[${index}].key`, 'not a base64 DER X.509 certificate');
      }
    });
  }
  Object.assign(application, next);
}

function list(value: unknown, property: string): Record<string, unknown>[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'object' || v === null)) throw invalid(property, 'expected an array of objects');
  return value as Record<string, unknown>[];
}

function stringList(value: unknown, property: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(property, 'expected an array of strings');
  return value as string[];
}

function appRole(raw: Record<string, unknown>): AppRole {
  if (typeof raw.value !== 'string') throw invalid('appRoles.value', 'expected a string');
  return {
    id: typeof raw.id === 'string' ? raw.id : randomUUID(),
    value: raw.value,
    allowedMemberTypes: Array.isArray(raw.allowedMemberTypes) ? raw.allowedMemberTypes.map(String) : ['Application'],
    isEnabled: raw.isEnabled !== false,
    displayName: typeof raw.displayName === 'string' ? raw.displayName : raw.value,
    description: typeof raw.description === 'string' ? raw.description : raw.value,
  };
}

function permissionScope(raw: Record<string, unknown>): PermissionScope {
  if (typeof raw.value !== 'string') throw invalid('api.oauth2PermissionScopes.value', 'expected a string');
  return {
    id: typeof raw.id === 'string' ? raw.id : randomUUID(),
    value: raw.value,
    type: raw.type === 'Admin' ? 'Admin' : 'User',
    isEnabled: raw.isEnabled !== false,
    adminConsentDisplayName: typeof raw.adminConsentDisplayName === 'string' ? raw.adminConsentDisplayName : raw.value,
    adminConsentDescription: typeof raw.adminConsentDescription === 'string' ? raw.adminConsentDescription : raw.value,
  };
}

function addFederatedCredential(application: ApplicationObject, body: Record<string, unknown>): Record<string, unknown> {
  const { name, issuer, subject, audiences } = body;
  if (typeof name !== 'string' || !name) throw invalid('name', 'expected a non-empty string');
  if (typeof issuer !== 'string' || !URL.canParse(issuer) || !issuer.startsWith('https://'))
    throw invalid('issuer', 'expected the https URL of the token issuer');
  if (typeof subject !== 'string' || !subject)
    throw invalid('subject', 'expected the subject of the external tokens, e.g. system:serviceaccount:NAMESPACE:NAME');
  // Graph takes exactly one audience, and Entra only honours this one.
  if (!Array.isArray(audiences) || audiences.length !== 1 || audiences[0] !== FEDERATION_AUDIENCE)
    throw invalid('audiences', `expected ["${FEDERATION_AUDIENCE}"]`);
  if (application.federatedCredentials.some((c) => c.name === name))
    throw GraphFailures.badRequest(`A federated identity credential named '${name}' already exists on this application.`);
  if (application.federatedCredentials.length >= MAX_FEDERATED_CREDENTIALS)
    throw GraphFailures.badRequest(`An application has at most ${MAX_FEDERATED_CREDENTIALS} federated identity credentials.`);
  const credential = { id: randomUUID(), name, issuer, subject, audiences: [FEDERATION_AUDIENCE] };
  application.federatedCredentials = [...application.federatedCredentials, credential];
  return {
    '@odata.context': 'federatedIdentityCredentials/$entity',
    ...credential,
    description: typeof body.description === 'string' ? body.description : null,
  };
}
