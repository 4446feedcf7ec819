// End to end with real processes: `access-broker dev`, then `access login` / `whoami` /
// `resources` / `logout` as separate CLI processes, each person with their own ACCESS_HOME.

import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceSummary, WhoAmIResponse } from '../../shared/wire.js';
import {
  DEVICE_CODE_MESSAGE,
  login,
  REPO,
  runCli,
  startCli,
  startDevBrokerProcess,
  submitDeviceLogin,
  tempDir,
  waitForMatch,
  type DevBrokerProcess,
} from '../helpers/processes.js';

let broker: DevBrokerProcess;

beforeAll(async () => {
  broker = await startDevBrokerProcess(['--data', await tempDir('broker-data')]);
});

afterAll(async () => {
  await broker?.stop();
});

async function whoami(home: string): Promise<WhoAmIResponse & { broker: string; tokenStore: string }> {
  const result = await runCli(['whoami', '--json'], home);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as WhoAmIResponse & { broker: string; tokenStore: string };
}

describe('sign-in with the embedded dev tenant', () => {
  it('signs alice in through the device code page and whoami shows her and her groups', async () => {
    const home = await tempDir('alice');
    const result = await login(broker.url, home, 'alice@contoso.dev');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Signed in as Alice Requester <alice@contoso.dev>');
    expect(result.stderr).toMatch(/Token cache: /);

    const me = await whoami(home);
    expect(me.upn).toBe('alice@contoso.dev');
    expect(me.kind).toBe('user');
    expect(me.groups.map((g) => g.displayName)).toEqual(['sg-eng']);
    expect(me.isAuditor).toBe(false);
    expect(me.broker).toBe(broker.url);
    expect(Date.parse(me.tokenExpiresAt)).toBeGreaterThan(Date.now());
  });

  it('keeps two ACCESS_HOMEs as two independent people', async () => {
    const bobHome = await tempDir('bob');
    const daveHome = await tempDir('dave');
    expect((await login(broker.url, bobHome, 'bob@contoso.dev')).code).toBe(0);
    expect((await login(broker.url, daveHome, 'dave@contoso.dev')).code).toBe(0);

    const bob = await whoami(bobHome);
    const dave = await whoami(daveHome);
    expect(bob.upn).toBe('bob@contoso.dev');
    // sg-dba is nested in sg-eng: membership is transitive, as Graph reports it.
    expect(bob.groups.map((g) => g.displayName).sort()).toEqual(['sg-dba', 'sg-eng']);
    expect(dave.upn).toBe('dave@contoso.dev');
    expect(dave.isAuditor).toBe(true);
    expect(bob.oid).not.toBe(dave.oid);
  });

  it('reads every group of a user above the 200-group overage from Graph', async () => {
    const home = await tempDir('grace');
    expect((await login(broker.url, home, 'grace@contoso.dev')).code).toBe(0);
    const grace = await whoami(home);
    expect(grace.groupOverage).toBe(true);
    expect(grace.groups.length).toBeGreaterThan(250);
    expect(grace.groups.map((g) => g.displayName)).toContain('sg-eng');
  });

  it('lists the resources each person may request or approve', async () => {
    const aliceHome = await tempDir('alice-res');
    const frankHome = await tempDir('frank');
    await login(broker.url, aliceHome, 'alice@contoso.dev');
    await login(broker.url, frankHome, 'frank@contoso.dev');

    const alice = await runCli(['resources', '--json'], aliceHome);
    expect(alice.code, alice.stderr).toBe(0);
    const resources = JSON.parse(alice.stdout) as ResourceSummary[];
    const demoDb = resources.find((r) => r.name === 'demo-db');
    expect(demoDb).toMatchObject({ kind: 'postgres', canRequest: true, canApprove: false });

    const frank = await runCli(['resources'], frankHome);
    expect(frank.code).toBe(0);
    expect(frank.stdout).toContain('No resources you can request or approve');
  });

  it('keeps the token file private (0600 in a 0700 dir) when no keychain is available', async () => {
    const home = path.join(await tempDir('file-store'), 'nested', 'access');
    const result = await login(broker.url, home, 'alice@contoso.dev', { ACCESS_TOKEN_STORE: 'file' });
    expect(result.code, result.stderr).toBe(0);
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(home, 'tokens.json'))).mode & 0o777).toBe(0o600);
  });

  it('signs out, after which whoami says to sign in and exits 4', async () => {
    const home = await tempDir('logout');
    await login(broker.url, home, 'carol@contoso.dev');
    const out = await runCli(['logout'], home);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('Signed out carol@contoso.dev');
    const after = await runCli(['whoami'], home);
    expect(after.code).toBe(4);
    expect(after.stderr).toContain('access login');
  });

  it('leaves the device code pending when the sign-in page gets a wrong code', async () => {
    const home = await tempDir('wrong-code');
    const run = startCli(['login', '--broker', broker.url], home);
    const match = await waitForMatch(run.stderr, DEVICE_CODE_MESSAGE);
    const wrong = await submitDeviceLogin(broker.url, 'WRONGCOD', 'alice@contoso.dev');
    expect(wrong.status).toBe(400);
    const right = await submitDeviceLogin(broker.url, match[2] as string, 'erin@contoso.dev');
    expect(right.status).toBe(200);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('erin@contoso.dev');
  });
});

describe('bad input at the CLI', () => {
  it('says how to sign in when nothing is configured (exit 4)', async () => {
    const result = await runCli(['whoami'], await tempDir('nothing'));
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('access login --broker URL');
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('names the broker it cannot reach (exit 1)', async () => {
    const result = await runCli(['login', '--broker', 'http://127.0.0.1:1'], await tempDir('unreachable'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot reach the broker at http://127.0.0.1:1');
  });

  it('refuses a malformed broker URL as a usage error (exit 2)', async () => {
    const result = await runCli(['login', '--broker', 'ftp://x'], await tempDir('bad-url'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('ftp://x');
  });

  it('treats an unknown command as a usage error (exit 2)', async () => {
    const result = await runCli(['frobnicate'], await tempDir('unknown'));
    expect(result.code).toBe(2);
  });
});

describe('access-broker dev --config (a team’s own policy and dev users)', () => {
  it('serves the team’s users, groups and resources instead of the demo set', async () => {
    const team = await startDevBrokerProcess(['--config', path.join(REPO, 'examples/dev-team.yaml')]);
    try {
      expect(team.output()).toContain('orders-db');
      expect(team.output()).not.toContain('demo-db');
      const home = await tempDir('team');
      const upn = /^\s+(\S+@\S+)\s/m.exec(team.output())?.[1] as string;
      const result = await login(team.url, home, upn);
      expect(result.code, result.stderr).toBe(0);
      const me = await whoami(home);
      expect(me.upn).toBe(upn);
      const resources = await runCli(['resources', '--json'], home);
      expect(resources.code, resources.stderr).toBe(0);
    } finally {
      await team.stop();
    }
  });

  it('refuses a bad config at start, naming the file, line, key and reason', async () => {
    const dir = await tempDir('bad-config');
    const file = path.join(dir, 'access.yaml');
    await writeFile(
      file,
      'resources:\n  prod-db:\n    kind: postgress\n    target: db:5432\n    requesters: [sg-eng]\n    approvers: [sg-dba]\n    maxDuration: 4h\n',
    );
    await expect(startDevBrokerProcess(['--config', file])).rejects.toThrow(`${file}:3 resources.prod-db.kind: must be one of postgres`);
  });
});
