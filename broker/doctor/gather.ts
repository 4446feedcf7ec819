// The effects of `access-broker doctor`: every read it makes of the tenant (OpenID discovery, the
// JWKS, a Graph token with the configured credential, each configured group and its member count,
// the API and CLI app registrations), each turned into a Fetched value so checks.ts can judge them
// without touching the network. Reads never throw: a failure is a fact too.

import { decodeJwt } from 'jose';
import { GraphError, type Client } from '@microsoft/microsoft-graph-client';
import { graphClientOverTransport } from '../../shared/graph-middleware.js';
import type { HttpTransport } from '../../shared/http-transport.js';
import { parseWholeNumber } from '../../shared/whole-number.js';
import { appTokenSource, type AppIdentity } from '../../shared/app-token.js';
import type { ApplicationFacts, DiscoveryFacts, DoctorFacts, Fetched, GroupFacts } from './facts.js';

/** What doctor reads, taken from the config's `tenant` block and policy. */
export interface DoctorTarget {
  tenantId: string;
  /** MSAL authority, `{authority host}/{tenant id}`. */
  authority: string;
  graph: AppIdentity & { baseUrl: string; scope: string };
  /** tenant.audiences: the API app's client id and/or App ID URI. */
  audiences: readonly string[];
  cliClientId: string;
  /** Every group id the policy names, once each. */
  groupIds: readonly string[];
}

/** Fetched.code of a read doctor did not attempt because an earlier one failed. */
export const NOT_TRIED = 'not_tried';
/** Entra's own sentence in an MSAL error ("AADSTS7000215: Invalid client secret …"), without MSAL's wrapping and trace ids. */
const AADSTS_SENTENCE = /AADSTS\d+:.*?(?= Trace ID:| - Timestamp:|$)/;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function gatherFacts(target: DoctorTarget, transport: HttpTransport): Promise<DoctorFacts> {
  const discovery = await readDiscovery(transport, target.authority);
  const jwks = discovery.ok ? await readJwks(transport, discovery.value.jwksUri) : null;
  const token = appTokenSource(target.graph, transport);
  // MSAL reads the same discovery document first (a managed identity does not): its failure would only repeat that one.
  const graphToken: Fetched<{ roles: string[] }> =
    discovery.ok || target.graph.credential.kind === 'managedIdentity'
      ? shortened(await fetched(async () => ({ roles: rolesOf(await token(target.graph.scope)) })))
      : { ok: false, status: null, code: NOT_TRIED, message: "not tried: the tenant's OpenID discovery failed" };
  const facts: DoctorFacts = { authority: target.authority, discovery, jwks, graphToken, groups: [], apiApp: null, cliApp: null };
  if (!graphToken.ok) return facts;
  const graph = graphClientOverTransport(transport, () => token(target.graph.scope), target.graph.baseUrl);
  for (const id of target.groupIds) {
    facts.groups.push({ id, read: GUID.test(id) ? await readGroup(graph, id) : { ok: true, value: null } });
  }
  facts.apiApp = await readApplication(graph, apiAppFilter(target.audiences));
  facts.cliApp = await readApplication(graph, `appId eq '${target.cliClientId}'`);
  return facts;
}

async function fetched<T>(read: () => Promise<T>): Promise<Fetched<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    if (error instanceof GraphError)
      return { ok: false, status: error.statusCode > 0 ? error.statusCode : null, code: error.code ?? null, message: error.message };
    return { ok: false, status: null, code: null, message: error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error) };
  }
}

/** A failed HTTP answer as a Fetched failure, reading an OAuth error body when there is one. */
function httpFailure(status: number, body: string): Fetched<never> {
  let parsed: { error?: unknown; error_description?: unknown } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const code = typeof parsed.error === 'string' ? parsed.error : null;
  const description = typeof parsed.error_description === 'string' ? (parsed.error_description.split(' Trace ID:')[0] ?? '') : `HTTP ${status}`;
  return { ok: false, status, code, message: description };
}

async function readJson(transport: HttpTransport, url: string): Promise<Fetched<Record<string, unknown>>> {
  try {
    const res = await transport.request(url, { headers: { accept: 'application/json' } });
    const text = res.body.toString('utf8');
    if (res.status !== 200) return httpFailure(res.status, text);
    return { ok: true, value: JSON.parse(text) as Record<string, unknown> };
  } catch (error) {
    return { ok: false, status: null, code: null, message: error instanceof Error ? error.message : String(error) };
  }
}

async function readDiscovery(transport: HttpTransport, authority: string): Promise<Fetched<DiscoveryFacts>> {
  const read = await readJson(transport, `${authority}/v2.0/.well-known/openid-configuration`);
  if (!read.ok) return read;
  const { issuer, jwks_uri: jwksUri } = read.value;
  if (typeof issuer !== 'string' || typeof jwksUri !== 'string') {
    return { ok: false, status: 200, code: null, message: 'the discovery document has no issuer or jwks_uri' };
  }
  return { ok: true, value: { issuer, jwksUri } };
}

async function readJwks(transport: HttpTransport, uri: string): Promise<Fetched<{ keys: number }>> {
  const read = await readJson(transport, uri);
  if (!read.ok) return read;
  const keys = read.value.keys;
  return Array.isArray(keys) ? { ok: true, value: { keys: keys.length } } : { ok: false, status: 200, code: null, message: `${uri} holds no "keys" list` };
}

function shortened<T>(read: Fetched<T>): Fetched<T> {
  if (read.ok) return read;
  const sentence = AADSTS_SENTENCE.exec(read.message)?.[0];
  return sentence ? { ...read, message: sentence.trim() } : read;
}

function rolesOf(accessToken: string): string[] {
  try {
    const roles = decodeJwt(accessToken).roles;
    return Array.isArray(roles) ? roles.map(String) : [];
  } catch {
    // An opaque token (not a JWT) says nothing about its permissions; the group reads will.
    return [];
  }
}

async function readGroup(graph: Client, id: string): Promise<Fetched<GroupFacts | null>> {
  const read = await fetched(async () => (await graph.api(`/groups/${id}`).select('id,displayName,securityEnabled').get()) as Record<string, unknown>);
  if (!read.ok) return read.status === 404 ? { ok: true, value: null } : read;
  const members = await fetched(async () => {
    const answer: unknown = await graph.api(`/groups/${id}/transitiveMembers/$count`).header('ConsistencyLevel', 'eventual').get();
    // Graph answers $count as text/plain; a client may hand it over already as a number.
    const count = typeof answer === 'string' || typeof answer === 'number' ? parseWholeNumber(String(answer)) : undefined;
    if (count === undefined) throw new Error(`Graph answered ${JSON.stringify(answer)} for a count`);
    return count;
  });
  return {
    ok: true,
    value: {
      id,
      displayName: typeof read.value.displayName === 'string' ? read.value.displayName : null,
      securityEnabled: read.value.securityEnabled === true,
      members,
    },
  };
}

/** The API app by its client id when tenant.audiences has one (exact), else by its App ID URI. */
function apiAppFilter(audiences: readonly string[]): string {
  const clientId = audiences.find((a) => GUID.test(a));
  if (clientId) return `appId eq '${clientId}'`;
  return `identifierUris/any(x:x eq '${(audiences[0] ?? '').replaceAll("'", "''")}')`;
}

async function readApplication(graph: Client, filter: string): Promise<Fetched<ApplicationFacts | null>> {
  return fetched(async () => {
    const answer = (await graph.api('/applications').filter(filter).select('appId,displayName,isFallbackPublicClient,identifierUris,api,appRoles').get()) as {
      value?: Array<Record<string, unknown>>;
    };
    const app = answer.value?.[0];
    if (!app) return null;
    const api = (app.api ?? {}) as { requestedAccessTokenVersion?: unknown; oauth2PermissionScopes?: unknown };
    const list = (value: unknown): Array<Record<string, unknown>> => (Array.isArray(value) ? (value as Array<Record<string, unknown>>) : []);
    return {
      appId: String(app.appId ?? ''),
      displayName: String(app.displayName ?? ''),
      isFallbackPublicClient: typeof app.isFallbackPublicClient === 'boolean' ? app.isFallbackPublicClient : null,
      identifierUris: Array.isArray(app.identifierUris) ? app.identifierUris.map(String) : [],
      requestedAccessTokenVersion: typeof api.requestedAccessTokenVersion === 'number' ? api.requestedAccessTokenVersion : null,
      scopes: list(api.oauth2PermissionScopes).map((s) => ({ value: String(s.value ?? ''), isEnabled: s.isEnabled !== false })),
      appRoles: list(app.appRoles).map((r) => ({
        value: String(r.value ?? ''),
        isEnabled: r.isEnabled !== false,
        allowedMemberTypes: Array.isArray(r.allowedMemberTypes) ? r.allowedMemberTypes.map(String) : [],
      })),
    };
  });
}
