// Checks the identity provider's user flows share (device code, refresh, authorization code and the
// authorize page): which client may run them, which delegated permissions it asks for, and the
// refusal each failed check answers with in Entra's words.

import type { AppRegistration } from './apps.js';
import { OIDC_SCOPES } from './apps.js';
import type { TenantContext } from './context.js';
import { EntraErrors, type EntraError } from './entra-errors.js';

/** Thrown inside a handler to answer an Entra-shaped error. */
export class Refusal extends Error {
  constructor(readonly entra: EntraError) {
    super(entra.description);
  }
}

/** The named form or query field, trimmed; a refusal naming it when it is missing or blank. */
export function required(form: Map<string, string>, name: string): string {
  const value = form.get(name)?.trim();
  if (!value) throw new Refusal(EntraErrors.missingParameter(name));
  return value;
}

/** A client that may run the user flows (device code, refresh, authorization code), or a refusal saying why not. */
export function publicClient(ctx: TenantContext, form: Map<string, string>): AppRegistration {
  const clientId = required(form, 'client_id');
  const app = ctx.apps.byClientId(clientId);
  if (!app) throw new Refusal(EntraErrors.unknownClient(clientId, ctx.tenantId));
  // "Allow public client flows" as the app registration has it now (an admin may turn it off).
  if (!app.publicClient || ctx.applications.find(app.clientId)?.isFallbackPublicClient !== true) throw new Refusal(EntraErrors.notPublicClient(clientId));
  return app;
}

/**
 * The delegated permissions a user flow asks for. Besides OpenID scopes only the API's scope is
 * known (the CLI is consented for nothing else); at least one API scope is required because the
 * token the CLI gets is for the API.
 */
export function apiPermissions(ctx: TenantContext, scopeParam: string): string[] {
  const permissions = new Set<string>();
  for (const scope of scopeParam.split(/\s+/).filter(Boolean)) {
    if (OIDC_SCOPES.has(scope.toLowerCase())) continue;
    const permission = ctx.apps.apiPermission(scope);
    if (!permission) throw new Refusal(EntraErrors.invalidScope(scope));
    permissions.add(permission);
  }
  if (permissions.size === 0) throw new Refusal(EntraErrors.apiScopeRequired(scopeParam, ctx.apps.apiScope));
  return [...permissions];
}
