// `client_assertion` at the token endpoint, checked the way Entra checks it (RFC 7523 client
// authentication), for the two kinds an app may send:
//   - a certificate assertion: `iss` = `sub` = the client id, signed with the key of a certificate
//     registered on the app (named by the `x5t#S256` or `x5t` header), `aud` the token endpoint;
//   - a federated assertion (workload identity federation): a JWT from an external issuer whose
//     `iss`/`sub`/`aud` match a federated identity credential of the app. The dev tenant can be that
//     issuer itself (federatedToken below, as the AKS OIDC issuer or GitHub would sign it); for any
//     other issuer it would have to fetch keys from the internet, which it refuses to do.

import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import { FEDERATION_AUDIENCE, type ApplicationObject } from './applications.js';
import type { TenantContext } from './context.js';
import { EntraErrors, type EntraError } from './entra-errors.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Clock skew Entra tolerates on an assertion's `nbf`/`exp` (seconds). */
const ASSERTION_CLOCK_TOLERANCE_SEC = 300;
/** Lifetime of the federated tokens the dev tenant issues as an external issuer (an AKS projected token's default). */
export const FEDERATED_TOKEN_LIFETIME_SEC = 3600;

/** The issuer URL the dev tenant signs federated (external) tokens as. */
export function federationIssuer(ctx: Pick<TenantContext, 'publicOrigin' | 'tenantId'>): string {
  return `${ctx.publicOrigin}/${ctx.tenantId}/federation`;
}

/** A JWT as an external identity provider (AKS, GitHub Actions) would put in a federated token file. */
export function federatedToken(ctx: TenantContext, subject: string, audience: string = FEDERATION_AUDIENCE): Promise<string> {
  const now = Math.floor(ctx.now() / 1000);
  const key = ctx.keys.active;
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
    .setIssuer(federationIssuer(ctx))
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + FEDERATED_TOKEN_LIFETIME_SEC)
    .setJti(randomUUID())
    .sign(key.privateKey);
}

/** Null when `assertion` authenticates `application`, else the Entra error saying why not. */
export async function checkClientAssertion(
  ctx: TenantContext,
  application: ApplicationObject,
  assertionType: string | undefined,
  assertion: string,
): Promise<EntraError | null> {
  if (assertionType !== JWT_BEARER_ASSERTION) return EntraErrors.assertionTypeInvalid(assertionType ?? '');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    claims = decodeJwt(assertion);
  } catch {
    return EntraErrors.assertionMalformed('it is not a JWT');
  }
  const certificateAssertion = claims.iss === application.appId;
  return certificateAssertion ? checkCertificateAssertion(ctx, application, header, assertion) : checkFederatedAssertion(ctx, application, claims, assertion);
}

async function checkCertificateAssertion(
  ctx: TenantContext,
  application: ApplicationObject,
  header: ReturnType<typeof decodeProtectedHeader>,
  assertion: string,
): Promise<EntraError | null> {
  const x5tS256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  const x5t = typeof header.x5t === 'string' ? header.x5t : undefined;
  const registered = ctx.applications.certificate(application.appId, { x5tS256, x5t });
  if (!registered) return EntraErrors.assertionKeyNotFound(application.appId, x5tS256 ?? x5t ?? '(no x5t#S256 or x5t header)');
  const tokenEndpoint = `${ctx.publicOrigin}/${ctx.tenantId}/oauth2/v2.0/token`;
  try {
    await jwtVerify(assertion, registered.certificate.publicKey, {
      // MSAL signs PS256 when it names the certificate by its SHA-256 thumbprint, RS256 by SHA-1.
      algorithms: ['PS256', 'RS256'],
      issuer: application.appId,
      subject: application.appId,
      audience: tokenEndpoint,
      currentDate: new Date(ctx.now()),
      clockTolerance: ASSERTION_CLOCK_TOLERANCE_SEC,
    });
  } catch (error) {
    return assertionFailure(error, `the token endpoint ${tokenEndpoint}`);
  }
  if (Date.parse(registered.certificate.validTo) <= ctx.now()) return EntraErrors.assertionCertificateExpired(registered.sha256);
  return null;
}

async function checkFederatedAssertion(ctx: TenantContext, application: ApplicationObject, claims: JWTPayload, assertion: string): Promise<EntraError | null> {
  const byIssuer = application.federatedCredentials.filter((c) => c.issuer === claims.iss);
  if (byIssuer.length === 0) return EntraErrors.federatedIssuerNotFound(String(claims.iss ?? ''), application.appId);
  const credential = byIssuer.find((c) => c.subject === claims.sub);
  if (!credential) return EntraErrors.federatedSubjectNotFound(String(claims.sub ?? ''), String(claims.iss), application.appId);
  // Only tokens the dev tenant signed as an issuer can be checked here: it has no internet to fetch another issuer's keys.
  if (claims.iss !== federationIssuer(ctx)) return EntraErrors.federatedIssuerUnreachable(String(claims.iss));
  try {
    await jwtVerify(
      assertion,
      (h) => {
        const key = h.kid ? ctx.keys.publicKey(h.kid) : undefined;
        if (!key) throw new errors.JWKSNoMatchingKey();
        return key;
      },
      {
        algorithms: ['RS256'],
        issuer: credential.issuer,
        subject: credential.subject,
        audience: credential.audiences,
        currentDate: new Date(ctx.now()),
        clockTolerance: ASSERTION_CLOCK_TOLERANCE_SEC,
      },
    );
  } catch (error) {
    return assertionFailure(error, credential.audiences.join(', '));
  }
  return null;
}

function assertionFailure(error: unknown, expectedAudience: string): EntraError {
  if (error instanceof errors.JWTExpired) return EntraErrors.assertionExpired();
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return EntraErrors.assertionAudience(expectedAudience);
    if (error.claim === 'nbf') return EntraErrors.assertionExpired();
    return EntraErrors.assertionMalformed(`claim '${error.claim}' ${error.reason}`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey) return EntraErrors.assertionSignature();
  if (error instanceof errors.JOSEAlgNotAllowed) return EntraErrors.assertionMalformed('its algorithm is not RS256 or PS256');
  return EntraErrors.assertionMalformed(error instanceof Error ? error.message : String(error));
}
