// Identity tokens for http/grpc targets: the signing key lives in the database, so every broker
// on it publishes the same JWKS and a token signed by one verifies with the JWKS any other serves
// (a target behind a load balancer fetches the JWKS from whichever broker answers).

import { rm } from 'node:fs/promises';
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../../../broker/store/database.js';
import { IdentityKeyStore } from '../../../../broker/store/identity-keys.js';
import { IDENTITY_TOKEN_ALG, ISSUER, IdentityTokens } from '../../../../broker/tunnel/http/identity-token.js';
import { tempDir } from '../../../helpers/processes.js';
import { openPostgresSchema } from '../../../helpers/store-databases.js';

const NOW = Date.UTC(2025, 2, 4, 12, 0);
const claims = { oid: 'oid-alice', upn: 'alice@contoso.test', resource: 'web', session: 'ses-1', grant: 'r1' };

const open: Database[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const db of open.splice(0).reverse()) db.close();
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function opened(db: Database): Database {
  open.push(db);
  return db;
}

async function verifiedSubject(token: string, jwks: { keys: object[] }): Promise<unknown> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]), {
    issuer: ISSUER,
    audience: 'web',
    algorithms: [IDENTITY_TOKEN_ALG],
    currentDate: new Date(NOW),
  });
  return payload.sub;
}

describe('IdentityTokens shared through the database', () => {
  it('gives two brokers on one PostgreSQL database the same JWKS, and a token one signs verifies with the other’s', async () => {
    const schema = openPostgresSchema();
    const a = IdentityTokens.shared(new IdentityKeyStore(opened(schema.connect())), NOW);
    const b = IdentityTokens.shared(new IdentityKeyStore(opened(schema.connect())), NOW + 1_000);
    const [jwksA, jwksB] = [await a.jwks(), await b.jwks()];
    expect(jwksB).toEqual(jwksA);
    expect(jwksA.keys).toHaveLength(1);
    expect(await verifiedSubject(await a.sign(claims, NOW), jwksB)).toBe('oid-alice');
    expect(await verifiedSubject(await b.sign(claims, NOW), jwksA)).toBe('oid-alice');
  });

  it('keeps the key across restarts of a SQLite broker, and publishes only its public half', async () => {
    const dir = await tempDir('identity-keys');
    dirs.push(dir);
    const file = `${dir}/broker.db`;
    const first = await IdentityTokens.shared(new IdentityKeyStore(opened(openDatabase(file))), NOW).jwks();
    const second = await IdentityTokens.shared(new IdentityKeyStore(opened(openDatabase(file))), NOW + 60_000).jwks();
    expect(second).toEqual(first);
    const [key] = first.keys;
    expect(key).not.toHaveProperty('d');
    // The kid is the RFC 7638 thumbprint, as jose computes it.
    expect(key?.kid).toBe(await calculateJwkThumbprint({ kty: key?.kty, crv: key?.crv, x: key?.x, y: key?.y }));
  });

  it('makes a key of its own in memory when given none (tests, tools)', async () => {
    const tokens = new IdentityTokens();
    expect(await verifiedSubject(await tokens.sign(claims, NOW), await tokens.jwks())).toBe('oid-alice');
    expect((await new IdentityTokens().jwks()).keys[0]?.kid).not.toBe((await tokens.jwks()).keys[0]?.kid);
  });
});
