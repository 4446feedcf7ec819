// An Azure App Service / Functions managed identity endpoint (`GET /msi/token`, api-version
// 2019-08-01) served by the dev tenant, so MSAL's ManagedIdentityApplication runs unmodified
// against it: set IDENTITY_ENDPOINT to its URL and IDENTITY_HEADER to the tenant's secret, and MSAL
// picks its App Service source. (MSAL's VM source, IMDS, has a fixed link-local address that no
// loopback server can take.) The identity is the broker's Graph app as a system-assigned identity;
// a user-assigned request (`client_id`) must name that app too.

import { timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TenantContext } from './context.js';
import { sendJson } from '../http/respond.js';

export const MANAGED_IDENTITY_PATH = '/msi/token';
/** Written in the dev tenant's data dir: the environment a process needs to be its managed identity. */
export const MANAGED_IDENTITY_ENV_FILE = 'managed-identity.env';
/** The header App Service checks (MSAL sends IDENTITY_HEADER in it). */
const SECRET_HEADER = 'x-identity-header';
const API_VERSION = '2019-08-01';

export async function handleManagedIdentity(ctx: TenantContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  if (url.pathname !== MANAGED_IDENTITY_PATH) return false;
  // App Service answers its errors as { statusCode, message }; MSAL reports `message`.
  const refuse = (status: number, error: string, message: string): true => {
    sendJson(res, status, { statusCode: status, error, message });
    return true;
  };
  if ((req.method ?? 'GET') !== 'GET') return refuse(405, 'invalid_request', `The managed identity endpoint only accepts GET, not ${req.method}.`);
  const given = Buffer.from(String(req.headers[SECRET_HEADER] ?? ''));
  const expected = Buffer.from(ctx.managedIdentityHeader);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return refuse(401, 'unauthorized_client', "The X-IDENTITY-HEADER is missing or wrong: set IDENTITY_HEADER to the dev tenant's managed identity secret.");
  }
  if (url.searchParams.get('api-version') !== API_VERSION) return refuse(400, 'invalid_request', `api-version must be ${API_VERSION}.`);
  const resourceParam = url.searchParams.get('resource') ?? '';
  const resource = ctx.apps.defaultScopeResource(`${resourceParam.replace(/\/+$/, '')}/.default`);
  if (!resource) return refuse(400, 'invalid_resource', `Resource '${resourceParam}' is not one this tenant issues tokens for.`);
  const app = ctx.apps.graph;
  const userAssigned = url.searchParams.get('client_id') ?? url.searchParams.get('object_id') ?? url.searchParams.get('mi_res_id');
  if (userAssigned !== null && userAssigned.toLowerCase() !== app.clientId && userAssigned.toLowerCase() !== app.servicePrincipalId) {
    return refuse(400, 'invalid_request', `No user-assigned identity '${userAssigned}' is assigned to this app; the dev tenant's identity is ${app.clientId}.`);
  }
  const accessToken = await ctx.tokens.appToken({ app, resource, apiClientId: ctx.apps.api.clientId, roles: ctx.applications.grantedRoles(app, resource) });
  sendJson(res, 200, {
    access_token: accessToken,
    expires_on: String(Math.floor(ctx.now() / 1000) + ctx.tokens.accessTokenLifetimeSec),
    resource: resourceParam,
    token_type: 'Bearer',
    client_id: app.clientId,
  });
  return true;
}

/**
 * Writes IDENTITY_ENDPOINT and IDENTITY_HEADER (0600) next to the tenant's state, so a broker or
 * `doctor` started with them (`set -a; . managed-identity.env`) runs as the dev tenant's managed
 * identity, as App Service would start it.
 */
export async function writeManagedIdentityEnv(dataDir: string, identity: { endpoint: string; header: string }): Promise<void> {
  await writeFile(path.join(dataDir, MANAGED_IDENTITY_ENV_FILE), `IDENTITY_ENDPOINT=${identity.endpoint}\nIDENTITY_HEADER=${identity.header}\n`, {
    mode: 0o600,
  });
}
