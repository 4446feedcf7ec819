// `access-broker doctor` against the dev tenant (real MSAL, real Graph client, real HTTP on
// loopback): a correct setup passes, and each misconfiguration an admin can make is named with
// its fix — wrong tenant id, bad credential, missing group, Microsoft 365 group, missing scope or
// app role, public client flows off, and no Application.Read.All ("could not check").

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@microsoft/microsoft-graph-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../../broker/doctor-command.js';
import { DEV_DIRECTORY } from '../../../broker/devtenant/seed.js';
import { createAppCertificate, registerAppCertificate } from '../../helpers/app-credentials.js';
import { DOCTOR_SECRET_ENV, writeDoctorConfig } from '../../helpers/doctor-config.js';
import { graphClientFor, serveDevTenant, type Served } from '../devtenant/harness.js';

let served: Served;
let dir: string;
let admin: Client;
const ids: Record<string, string> = {};

beforeAll(async () => {
  served = await serveDevTenant({
    directory: {
      users: DEV_DIRECTORY.users.slice(0, 3),
      groups: [
        { name: 'sg-eng', memberOf: [] },
        { name: 'sg-dba', memberOf: ['sg-eng'] },
        { name: 'm365-team', memberOf: [], securityEnabled: false },
        { name: 'sg-escape', displayName: 'sg-\u001b[2Jcleared', memberOf: [] },
      ],
    },
  });
  dir = await mkdtemp(path.join(os.tmpdir(), 'access-doctor-'));
  admin = graphClientFor(served, served.tenant.directoryAdminApp);
  for (const name of ['sg-eng', 'sg-dba', 'm365-team']) {
    const found = (await admin.api('/groups').filter(`displayName eq '${name}'`).get()) as { value: Array<{ id: string }> };
    ids[name] = found.value[0]?.id as string;
  }
  const all = (await admin.api('/groups').get()) as { value: Array<{ id: string; displayName: string }> };
  ids['sg-escape'] = all.value.find((g) => g.displayName.startsWith('sg-\u001b'))?.id as string;
});

afterAll(async () => {
  await served.close();
  await rm(dir, { recursive: true, force: true });
});

interface Overrides {
  tenantId?: string;
  /** The `credential:` mapping, as YAML flow text. Default the client secret from DOCTOR_SECRET_ENV. */
  credential?: string;
  groups?: string[];
}

/** A `serve` config for the dev tenant, as an admin would write it for a real one. */
async function configFile(overrides: Overrides = {}): Promise<string> {
  const t = served.tenant;
  const file = path.join(dir, `access-${Math.random().toString(36).slice(2)}.yaml`);
  await writeDoctorConfig(file, {
    origin: served.publicOrigin,
    tenantId: overrides.tenantId ?? t.tenantId,
    cliClientId: t.cliClientId,
    apiClientId: t.api.clientId,
    graphClientId: t.graphApp.clientId,
    groupIds: overrides.groups ?? [ids['sg-eng'] as string, ids['sg-dba'] as string],
    ...(overrides.credential ? { credential: overrides.credential } : {}),
  });
  return file;
}

async function doctor(overrides: Overrides = {}, secret = served.tenant.graphApp.clientSecret): Promise<{ lines: string[]; exitCode: number }> {
  return runDoctor({ configFile: await configFile(overrides), env: { [DOCTOR_SECRET_ENV]: secret }, devTenantPlaintext: true });
}

const line = (lines: string[], pattern: RegExp): string => lines.find((l) => pattern.test(l)) ?? `(no line matches ${pattern}) in:\n${lines.join('\n')}`;

describe('access-broker doctor', () => {
  it('passes every check of a correct setup, one ✔ line each, and exits 0', async () => {
    const { lines, exitCode } = await doctor();
    expect(exitCode).toBe(0);
    expect(lines.slice(0, -1).every((l) => l.startsWith('✔ '))).toBe(true);
    expect(line(lines, /OpenID discovery/)).toContain(served.tenant.tenantId);
    expect(line(lines, /JWKS/)).toMatch(/✔ .*1 key at/);
    expect(line(lines, /Graph token/)).toContain('client secret from $ACCESS_GRAPH_SECRET');
    expect(line(lines, /permissions granted/)).toContain('GroupMember.Read.All');
    // Transitive members, as Graph counts them: alice, bob and carol, and the nested group sg-dba.
    expect(line(lines, new RegExp(ids['sg-eng'] as string))).toMatch(/"sg-eng": security group, 4 members/);
    expect(line(lines, /delegated scope/)).toContain(served.tenant.api.scope);
    expect(line(lines, /app role Access.Automation/)).toMatch(/^✔/);
    expect(line(lines, /v2 access tokens/)).toMatch(/^✔/);
    expect(line(lines, /public client flows/)).toMatch(/^✔/);
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
  });

  it('names a wrong tenant id with where to copy the right one, and exits 1', async () => {
    const { lines, exitCode } = await doctor({ tenantId: '11111111-2222-4333-8444-555555555555' });
    expect(exitCode).toBe(1);
    expect(line(lines, /OpenID discovery/)).toMatch(/^✖ .*AADSTS90002.*fix: tenant.id is not a tenant of .*Directory \(tenant\) ID/);
    // The Graph token would fail on the same discovery: not tried, rather than a second, vaguer failure.
    expect(line(lines, /Graph token/)).toMatch(/^\? .*not tried/);
  });

  it('names a bad credential with the AADSTS reason and how to fix the secret', async () => {
    const { lines, exitCode } = await doctor({}, 'not-the-secret');
    expect(exitCode).toBe(1);
    expect(line(lines, /Graph token/)).toMatch(
      /^✖ .*: AADSTS7000215: Invalid client secret provided\.[^—]* — fix: put the client secret's Value \(not its ID\) in \$ACCESS_GRAPH_SECRET/,
    );
    expect(line(lines, /Graph token/)).not.toContain('Trace ID');
    expect(line(lines, /policy group/)).toMatch(/^\? 2 policy group\(s\) and the API and CLI app registrations: not checked without a Graph token/);
  });

  it('names a group id that does not exist', async () => {
    const { lines, exitCode } = await doctor({ groups: [ids['sg-eng'] as string, '99999999-9999-4999-8999-999999999999'] });
    expect(exitCode).toBe(1);
    expect(line(lines, /99999999-9999/)).toMatch(/^✖ group 99999999-9999-4999-8999-999999999999: does not exist in the tenant — fix: /);
  });

  it('refuses a Microsoft 365 group where a security group belongs', async () => {
    const { lines, exitCode } = await doctor({ groups: [ids['sg-eng'] as string, ids['m365-team'] as string] });
    expect(exitCode).toBe(1);
    expect(line(lines, new RegExp(ids['m365-team'] as string))).toMatch(/^✖ .*"m365-team": is a Microsoft 365 group, not a security group/);
  });

  it('shows control characters in a tenant display name as visible escapes', async () => {
    const { lines } = await doctor({ groups: [ids['sg-eng'] as string, ids['sg-escape'] as string] });
    expect(line(lines, new RegExp(ids['sg-escape'] as string))).toContain('"sg-\\x1b[2Jcleared"');
    expect(lines.join('\n')).not.toContain('\u001b');
  });

  it('checks a certificate credential, and names an unregistered certificate with the az command that registers it', async () => {
    const certificate = await createAppCertificate(dir, 'doctor-graph-app');
    const credential = `{ kind: certificate, file: ${certificate.file} }`;
    const unregistered = await doctor({ credential });
    expect(unregistered.exitCode).toBe(1);
    expect(line(unregistered.lines, /Graph token/)).toMatch(
      /^✖ .*AADSTS700027.*fix: register this certificate on app .*: az ad app credential reset --id .* --cert @.*doctor-graph-app\.pem --append/,
    );
    await registerAppCertificate(admin, served.tenant.graphApp.clientId, certificate);
    const registered = await doctor({ credential });
    expect(registered.exitCode).toBe(0);
    expect(line(registered.lines, /Graph token/)).toMatch(/^✔ .*with certificate .*doctor-graph-app\.pem \(SHA-256 thumbprint [0-9a-f]{64}\)/);
  });

  describe('app registrations changed by an admin', () => {
    const apiApp = (): string => `/applications(appId='${served.tenant.api.clientId}')`;
    const cliApp = (): string => `/applications(appId='${served.tenant.cliClientId}')`;
    let restore: Array<() => Promise<void>> = [];

    afterEach(async () => {
      for (const undo of restore) await undo();
      restore = [];
    });

    it('names a missing scope and a missing app role on the API app', async () => {
      const before = (await admin.api(apiApp()).get()) as { api: { oauth2PermissionScopes: unknown[] }; appRoles: unknown[] };
      await admin.api(apiApp()).patch({ api: { oauth2PermissionScopes: [] }, appRoles: [] });
      restore.push(async () => admin.api(apiApp()).patch({ api: { oauth2PermissionScopes: before.api.oauth2PermissionScopes }, appRoles: before.appRoles }));
      const { lines, exitCode } = await doctor();
      expect(exitCode).toBe(1);
      expect(line(lines, /delegated scope/)).toMatch(/^✖ .*it has no scope "user_impersonation" — fix: .*Expose an API/);
      expect(line(lines, /app role/)).toMatch(/^✖ .*it has no app role "Access.Automation" — fix: /);
    });

    it('names an API app that issues v1 tokens for a config that accepts only its client id', async () => {
      await admin.api(apiApp()).patch({ api: { requestedAccessTokenVersion: null } });
      restore.push(async () => admin.api(apiApp()).patch({ api: { requestedAccessTokenVersion: 2 } }));
      const { lines } = await doctor();
      expect(line(lines, /token version/)).toMatch(
        /^✖ .*v1 tokens carry aud api:\/\/.*fix: make the app issue v2 tokens: az ad app update --id .* --set api.requestedAccessTokenVersion=2/,
      );
    });

    it('names public client flows turned off on the CLI app', async () => {
      await admin.api(cliApp()).patch({ isFallbackPublicClient: false });
      restore.push(async () => admin.api(cliApp()).patch({ isFallbackPublicClient: true }));
      const { lines, exitCode } = await doctor();
      expect(exitCode).toBe(1);
      expect(line(lines, /public client flows/)).toMatch(/^✖ .*fix: az ad app update --id .* --is-fallback-public-client true/);
    });

    it('names missing Graph permissions with the az commands that grant them', async () => {
      served.tenant.setGraphPermission(served.tenant.graphApp.clientId, 'GroupMember.Read.All', false);
      restore.push(async () => served.tenant.setGraphPermission(served.tenant.graphApp.clientId, 'GroupMember.Read.All', true));
      const { lines, exitCode } = await doctor();
      expect(exitCode).toBe(1);
      expect(line(lines, /Graph application permissions/)).toMatch(
        /^✖ .*missing GroupMember.Read.All — fix: az ad app permission add --id \S+ --api 00000003-0000-0000-c000-000000000000 --api-permissions 98830695-27a2-44f7-8c18-0c3ebc9698f6=Role && az ad app permission admin-consent --id /,
      );
      expect(line(lines, new RegExp(ids['sg-eng'] as string))).toMatch(
        /^✖ .*Graph answered 403 Authorization_RequestDenied.*fix: grant the Graph app GroupMember.Read.All/,
      );
    });

    it('says what it could not check without Application.Read.All, and still exits 0', async () => {
      served.tenant.setGraphPermission(served.tenant.graphApp.clientId, 'Application.Read.All', false);
      restore.push(async () => served.tenant.setGraphPermission(served.tenant.graphApp.clientId, 'Application.Read.All', true));
      const { lines, exitCode } = await doctor();
      expect(exitCode).toBe(0);
      expect(line(lines, /the API app/)).toMatch(/^\? .*could not check: the Graph app lacks Application.Read.All/);
      expect(line(lines, /the CLI app/)).toMatch(/^\? .*could not check/);
      expect(lines.at(-1)).toMatch(/0 failed, 2 could not be checked$/);
    });
  });
});
