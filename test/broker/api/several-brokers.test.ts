// Two brokers on one PostgreSQL database, each on its own socket and connection, as behind a load
// balancer: what one person may do, and the key http targets verify, are the same whichever broker
// a call reaches.

import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ISSUER } from '../../../broker/tunnel/http/identity-token.js';
import { REQUEST_CREATION_LIMIT } from '../../../shared/limits.js';
import { openPostgresSchema } from '../../helpers/store-databases.js';
import { startTestBroker, type TestBroker } from '../events/broker-harness.js';

const brokers: TestBroker[] = [];

afterEach(async () => {
  for (const broker of brokers.splice(0).reverse()) await broker.close();
});

async function twoBrokers(): Promise<[TestBroker, TestBroker]> {
  const schema = openPostgresSchema();
  for (let i = 0; i < 2; i++) brokers.push(await startTestBroker({ limits: { maxPendingPerUser: 1000 }, db: schema.connect() }));
  return brokers as [TestBroker, TestBroker];
}

describe('several brokers on one PostgreSQL database', () => {
  it(`refuses a person's request number ${REQUEST_CREATION_LIMIT.burst + 1} on either broker when the first ${REQUEST_CREATION_LIMIT.burst} went to both`, async () => {
    const [a, b] = await twoBrokers();
    for (let i = 0; i < REQUEST_CREATION_LIMIT.burst; i++) {
      expect((await (i % 2 === 0 ? a : b).call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db' })).status).toBe(201);
    }
    for (const broker of [a, b]) {
      const refused = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db' });
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ code: 'rate_limited' });
    }
    expect((await b.call('POST', '/v1/requests', 'good-oscar', { resource: 'prod-db' })).status).toBe(201);
  });

  it('serves one JWKS from both, and a token signed by one verifies with the JWKS of the other', async () => {
    const [a, b] = await twoBrokers();
    const jwksA = (await a.call('GET', '/v1/identity/jwks', null)).body as JSONWebKeySet;
    const jwksB = (await b.call('GET', '/v1/identity/jwks', null)).body as JSONWebKeySet;
    expect(jwksB).toEqual(jwksA);
    const token = await a.app.identityTokens.sign({ oid: 'oid-alice', upn: null, resource: 'web', session: 's1', grant: 'r1' }, Date.now());
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwksB), { issuer: ISSUER, audience: 'web' });
    expect(payload.sub).toBe('oid-alice');
  });
});
