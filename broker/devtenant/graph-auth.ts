// Every Graph emulator call must carry an app-only token this tenant issued for Graph, checked the
// way Graph checks it: our own published keys, RS256, the v1 issuer of this tenant, Graph as the
// audience, and an application permission that covers the call. A token whose signature verified is
// remembered by the token itself until it expires (graph-tokens.ts).

import type { IncomingMessage } from 'node:http';
import { errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { TenantContext } from './context.js';
import { GraphFailures } from './graph-errors.js';
import { CLOCK_TOLERANCE_SEC } from './graph-tokens.js';
import { GRAPH_APP_ID } from './tokens.js';

/** Application permissions that allow reading users. */
export const USER_READ_ROLES = ['User.Read.All', 'Directory.Read.All'] as const;
/** Application permissions that allow changing group memberships (each also allows reading them). */
export const MEMBERSHIP_WRITE_ROLES = ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'] as const;
/** Application permissions that allow reading groups and memberships. */
export const MEMBERSHIP_READ_ROLES = ['GroupMember.Read.All', 'Group.Read.All', 'Directory.Read.All', ...MEMBERSHIP_WRITE_ROLES] as const;
export async function authorizeGraphCall(ctx: TenantContext, req: IncomingMessage, anyOfRoles: readonly string[]): Promise<void> {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw GraphFailures.tokenMissing();
  const token = match[1] as string;
  const keyKnown = (kid: string): boolean => ctx.keys.publicKey(kid) !== undefined;
  let roles = ctx.graphTokens.roles(token, ctx.now(), keyKnown);
  if (roles === undefined) roles = await verifyGraphToken(ctx, token);
  const granted = Array.isArray(roles) ? roles : [];
  if (!anyOfRoles.some((role) => granted.includes(role))) throw GraphFailures.insufficientPrivileges(anyOfRoles);
}

/** The full check of a token not remembered: signature with our keys, RS256, issuer, audience, times; remembers it when it passes. */
async function verifyGraphToken(ctx: TenantContext, token: string): Promise<unknown> {
  const getKey: JWTVerifyGetKey = (protectedHeader) => {
    const key = protectedHeader.kid ? ctx.keys.publicKey(protectedHeader.kid) : undefined;
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key;
  };
  try {
    const { payload, protectedHeader } = await jwtVerify(token, getKey, {
      algorithms: ['RS256'],
      issuer: ctx.tokens.v1Issuer,
      audience: [ctx.tokens.graphResource, GRAPH_APP_ID],
      currentDate: new Date(ctx.now()),
      clockTolerance: CLOCK_TOLERANCE_SEC,
    });
    // Only a token with an expiry is remembered: it is forgotten at that expiry.
    if (typeof payload.exp === 'number' && protectedHeader.kid) {
      ctx.graphTokens.remember(token, { kid: protectedHeader.kid, exp: payload.exp, roles: payload.roles });
    }
    return payload.roles;
  } catch (error) {
    throw GraphFailures.tokenInvalid(describe(error));
  }
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'Lifetime validation failed, the token is expired.';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'Invalid audience.';
    if (error.claim === 'iss') return 'Invalid issuer.';
    return `Invalid claim '${error.claim}'.`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return 'The signing key is not one of this tenant.';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'Invalid signature.';
  return 'The token is malformed or not signed by this tenant.';
}
