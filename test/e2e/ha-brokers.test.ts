// Three `access-broker serve` processes behind a real HAProxy (deploy/haproxy/access-brokers.cfg),
// with an `access-broker dev` process as their tenant (test/helpers/ha-cluster.ts): people sign in
// through the edge, every broker answers in turn, and a broker killed with `kill -9` is taken out by
// HAProxy's health checks while the others keep answering, then comes back after a restart.

import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_NAMES, HaCluster } from '../helpers/ha-cluster.js';
import { HAPROXY_BIN } from '../helpers/proxies.js';
import { accessToken, eventually, type Person } from '../helpers/tunnel-broker.js';

const HAVE_HAPROXY = existsSync(HAPROXY_BIN);
if (!HAVE_HAPROXY) console.warn(`skipping the HA end-to-end test: no HAProxy at ${HAPROXY_BIN} (apt-get install haproxy)`);

/** Start-up of the tenant, three brokers and HAProxy on a loaded 2-core machine. */
const START_TIMEOUT_MS = 180_000;

/** The seconds since `start`, for the printed measurements. */
function secondsSince(start: number): number {
  return Math.round((performance.now() - start) / 10) / 100;
}

describe.skipIf(!HAVE_HAPROXY)('three brokers behind HAProxy', () => {
  let cluster: HaCluster;
  let alice: Person;

  beforeAll(async () => {
    cluster = await HaCluster.start();
    alice = await cluster.signIn('alice');
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('signs a person in through the edge and answers them as the tenant says they are', async () => {
    const whoami = await alice.run(['whoami']);
    expect(whoami.code, whoami.stderr).toBe(0);
    expect(whoami.stdout).toContain('alice@contoso.dev');
    expect(whoami.stdout).toContain('sg-eng');
  });

  it('spreads calls over all three brokers, and says which one answered', async () => {
    const token = await accessToken(alice);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await cluster.call('/v1/whoami', token));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.servedBy))).toEqual(new Set(BROKER_NAMES));
    // The CLI's own calls went through the same edge, as its log shows.
    expect(cluster.edgeLog().some((line) => line.method === 'GET' && line.uri.startsWith('/v1/whoami') && line.status === 200)).toBe(true);
  });

  it.each(BROKER_NAMES)('keeps answering when %s is killed with kill -9, and takes it back once restarted', async (name) => {
    const token = await accessToken(alice);
    const killed = performance.now();
    await cluster.kill(name);
    // Every call right after the kill is answered, by the other two: a refused connection is retried elsewhere.
    const during = [];
    for (let i = 0; i < 6; i++) during.push(await cluster.call('/v1/whoami', token));
    const firstAnswer = secondsSince(killed);
    expect(during.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(during.map((a) => a.servedBy)).not.toContain(name);
    await cluster.waitForHealth(name, 'DOWN');
    const down = secondsSince(killed);
    const restarted = performance.now();
    await cluster.restart(name);
    await cluster.waitForHealth(name, 'UP');
    const up = secondsSince(restarted);
    const back = await eventually(`an answer from ${name} again`, async () => ((await cluster.call('/v1/whoami', token)).servedBy === name ? true : undefined));
    expect(back).toBe(true);
    console.log(
      `[ha] kill -9 ${name}: 6 calls answered by the others within ${firstAnswer}s; HAProxy marked it DOWN after ${down}s; restarted, UP after ${up}s`,
    );
  });
});
