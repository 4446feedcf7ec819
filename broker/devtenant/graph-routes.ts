// The Microsoft Graph emulator under `/graph/v1.0`: the reads the broker makes (users, groups,
// `checkMemberGroups`, `transitiveMemberOf` with paging), answered from the dev directory with
// Graph's shapes, permissions, limits and errors, so the real Graph client runs against it. Plus
// the two membership writes (`POST /groups/{id}/members/$ref`, `DELETE /groups/{id}/members/{id}/$ref`)
// so a test or script can change a running dev broker's directory from outside its process.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TenantContext } from './context.js';
import type { DirectoryGroup, DirectoryUser } from './directory.js';
import { authorizeGraphCall, MEMBERSHIP_READ_ROLES, MEMBERSHIP_WRITE_ROLES, USER_READ_ROLES } from './graph-auth.js';
import { GraphFailures, readGraphJson, withGraphErrors } from './graph-errors.js';
import { filter, page, select, type GraphObject } from './graph-odata.js';
import { sendJson } from '../http/respond.js';

export const GRAPH_PATH_PREFIX = '/graph/';
const GRAPH_VERSION = 'v1.0';
/** Graph's limit on the ids of one `checkMemberGroups` call. */
export const MAX_CHECK_MEMBER_GROUPS_IDS = 20;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The path of an `@odata.id` member reference: `/v1.0/directoryObjects/{id}` (or `/users/{id}`). */
const MEMBER_REFERENCE = /\/(?:directoryObjects|users)\/([^/]+)$/;

export async function handleGraph(ctx: TenantContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  if (!url.pathname.startsWith(GRAPH_PATH_PREFIX)) return false;
  await withGraphErrors(req, res, ctx.now, async () => {
    if (ctx.graphStalled()) {
      // A hung Graph: nothing is answered; the caller's own timeout is what ends the call.
      await new Promise<void>((resolve) => res.once('close', () => resolve()));
      return;
    }
    if (!ctx.graphAvailable()) throw GraphFailures.unavailable();
    ctx.graphFaults.beforeCall();
    const body = await route(ctx, req, url);
    if (body === null) {
      // Graph answers a reference change with 204 and no body.
      res.writeHead(204, { 'cache-control': 'no-store' });
      res.end();
    } else {
      sendJson(res, 200, body);
    }
  });
  return true;
}

/** The answer's body, or null for 204 No Content. */
async function route(ctx: TenantContext, req: IncomingMessage, url: URL): Promise<GraphObject | null> {
  const segments = url.pathname.slice(GRAPH_PATH_PREFIX.length).split('/').map(decodeSegment);
  const [version, collection, id, action, cast, ...rest] = segments;
  if (version !== GRAPH_VERSION) throw GraphFailures.unknownSegment(version ?? '');
  if (collection === 'groups' && id && action === 'members') return memberReference(ctx, req, id, segments.slice(4));
  if (rest.length > 0 || (cast !== undefined && (action !== 'transitiveMemberOf' || cast !== 'microsoft.graph.group'))) {
    throw GraphFailures.unknownSegment(segments.slice(4).join('/'));
  }
  const method = req.method ?? 'GET';
  const base = `${ctx.publicOrigin}/graph/${GRAPH_VERSION}`;
  const expectMethod = (expected: 'GET' | 'POST'): void => {
    if (method !== expected) throw GraphFailures.methodNotAllowed(method);
  };

  if (collection === 'users') {
    if (id === undefined || id === '') {
      expectMethod('GET');
      await authorizeGraphCall(ctx, req, USER_READ_ROLES);
      const users = filter(ctx.directory.users().map(userObject), url, ['displayName', 'userPrincipalName', 'mail', 'id']);
      return collectionBody(`${base}/$metadata#users`, page(users, url, ctx.publicOrigin));
    }
    if (action === undefined) {
      expectMethod('GET');
      await authorizeGraphCall(ctx, req, USER_READ_ROLES);
      return { '@odata.context': `${base}/$metadata#users/$entity`, ...select(userObject(findUser(ctx, id)), url) };
    }
    if (action === 'checkMemberGroups') {
      expectMethod('POST');
      await authorizeGraphCall(ctx, req, MEMBERSHIP_READ_ROLES);
      const user = findUser(ctx, id);
      const wanted = await groupIdsFrom(req);
      const member = new Set(ctx.directory.transitiveGroups(user).map((g) => g.id));
      return { '@odata.context': `${base}/$metadata#Collection(Edm.String)`, value: wanted.filter((g) => member.has(g.toLowerCase())) };
    }
    if (action === 'transitiveMemberOf') {
      expectMethod('GET');
      await authorizeGraphCall(ctx, req, MEMBERSHIP_READ_ROLES);
      const user = findUser(ctx, id);
      if (cast) ctx.graphFaults.checkAdvancedQuery(req, url);
      const groups = ctx.directory.transitiveGroups(user).map((g) => ({ '@odata.type': '#microsoft.graph.group', ...groupObject(g) }));
      const context = cast ? `${base}/$metadata#groups` : `${base}/$metadata#directoryObjects`;
      const matching = filter(groups, url, ['displayName', 'id']);
      const body = collectionBody(context, page(matching, url, ctx.publicOrigin));
      const value = (body.value as GraphObject[]).map((group) => ctx.graphFaults.groupAsSeen(group));
      // $count=true adds the total, as Graph does for advanced queries.
      return { ...body, ...(url.searchParams.get('$count') === 'true' ? { '@odata.count': matching.length } : {}), value };
    }
    throw GraphFailures.unknownSegment(action);
  }

  if (collection === 'groups' && action === undefined) {
    expectMethod('GET');
    await authorizeGraphCall(ctx, req, MEMBERSHIP_READ_ROLES);
    if (id === undefined || id === '') {
      const groups = filter(ctx.directory.groups().map(groupObject), url, ['displayName', 'id', 'mailNickname']);
      return collectionBody(`${base}/$metadata#groups`, page(groups, url, ctx.publicOrigin));
    }
    const group = ctx.directory.groupById(id);
    if (!group) throw GraphFailures.notFound(id);
    return { '@odata.context': `${base}/$metadata#groups/$entity`, ...select(groupObject(group), url) };
  }

  throw GraphFailures.unknownSegment(collection === 'groups' ? (action ?? '') : (collection ?? ''));
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw GraphFailures.badRequest(`The path segment '${segment}' is not valid percent-encoding.`);
  }
}

function findUser(ctx: TenantContext, idOrUpn: string): DirectoryUser {
  const user = ctx.directory.findUser(idOrUpn);
  if (!user) throw GraphFailures.notFound(idOrUpn);
  return user;
}

/**
 * `POST /groups/{id}/members/$ref` with `{"@odata.id": "…/directoryObjects/{user id}"}` adds a user
 * as a direct member; `DELETE /groups/{id}/members/{user id}/$ref` removes one. Both answer 204.
 * Users only: nesting groups stays the dev directory's (config) business.
 */
async function memberReference(ctx: TenantContext, req: IncomingMessage, groupId: string, rest: readonly string[]): Promise<null> {
  const adding = rest.length === 1 && rest[0] === '$ref';
  const removing = rest.length === 2 && rest[1] === '$ref';
  if (!adding && !removing) throw GraphFailures.unknownSegment(['members', ...rest].join('/'));
  const method = req.method ?? 'GET';
  if (method !== (adding ? 'POST' : 'DELETE')) throw GraphFailures.methodNotAllowed(method);
  await authorizeGraphCall(ctx, req, MEMBERSHIP_WRITE_ROLES);
  const group = ctx.directory.groupById(groupId);
  if (!group) throw GraphFailures.notFound(groupId);
  const memberId = adding ? await memberIdFrom(req) : (rest[0] as string);
  if (ctx.directory.groupById(memberId)) {
    throw GraphFailures.badRequest(`'${memberId}' is a group; the dev tenant changes the direct membership of users only.`);
  }
  // Graph names members by object id here, never by UPN.
  const user = GUID.test(memberId) ? ctx.directory.findUser(memberId) : undefined;
  if (!user) throw GraphFailures.notFound(memberId);
  const isMember = user.groups.has(group.name);
  if (adding && isMember) {
    throw GraphFailures.badRequest("One or more added object references already exist for the following modified properties: 'members'.");
  }
  if (removing && !isMember) throw GraphFailures.notFound(memberId);
  ctx.directory.setMembership(user.upn, group.name, adding);
  return null;
}

/** The object id an `@odata.id` reference names, e.g. https://graph.microsoft.com/v1.0/directoryObjects/{id}. */
async function memberIdFrom(req: IncomingMessage): Promise<string> {
  const reference = ((await readGraphJson(req)) as Record<string, unknown> | null)?.['@odata.id'];
  const match = typeof reference === 'string' && URL.canParse(reference) ? MEMBER_REFERENCE.exec(new URL(reference).pathname) : null;
  if (!match) {
    throw GraphFailures.badRequest(
      `The body needs '@odata.id' naming the new member, e.g. {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}; got ${JSON.stringify(reference ?? null)}.`,
    );
  }
  return decodeSegment(match[1] as string);
}

async function groupIdsFrom(req: IncomingMessage): Promise<string[]> {
  const body = await readGraphJson(req);
  const ids = (body as { groupIds?: unknown } | null)?.groupIds;
  if (!Array.isArray(ids)) throw GraphFailures.badRequest("The request body needs 'groupIds', an array of group ids.");
  if (ids.length > MAX_CHECK_MEMBER_GROUPS_IDS) {
    throw GraphFailures.badRequest(
      `Too many group ids (${ids.length}); checkMemberGroups takes at most ${MAX_CHECK_MEMBER_GROUPS_IDS} a call. Split the list.`,
    );
  }
  for (const id of ids) {
    if (typeof id !== 'string' || !GUID.test(id)) {
      throw GraphFailures.badRequest(`Invalid group id ${JSON.stringify(id)} in 'groupIds'; group ids are GUIDs.`);
    }
  }
  return ids as string[];
}

function collectionBody(context: string, result: { value: GraphObject[]; nextLink?: string }): GraphObject {
  return {
    '@odata.context': context,
    ...(result.nextLink ? { '@odata.nextLink': result.nextLink } : {}),
    value: result.value,
  };
}

function userObject(user: DirectoryUser): GraphObject {
  const [givenName, ...rest] = user.name.split(' ');
  return {
    id: user.oid,
    businessPhones: [],
    displayName: user.name,
    givenName: givenName ?? null,
    surname: rest.length ? rest.join(' ') : null,
    jobTitle: null,
    mail: user.upn,
    mobilePhone: null,
    officeLocation: null,
    preferredLanguage: null,
    userPrincipalName: user.upn,
  };
}

function groupObject(group: DirectoryGroup): GraphObject {
  return {
    id: group.id,
    displayName: group.displayName,
    description: null,
    // A group that is not a security group is a Microsoft 365 ("Unified") group, mail-enabled.
    groupTypes: group.securityEnabled ? [] : ['Unified'],
    mail: null,
    mailEnabled: !group.securityEnabled,
    mailNickname: group.name,
    securityEnabled: group.securityEnabled,
  };
}
