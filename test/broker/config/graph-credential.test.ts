// `tenant.graph.credential`: each kind of Graph app credential is read at start, and every
// combination that cannot work is refused with the file, the key and the reason. A PFX/PKCS#12
// bundle (made here with node-forge, as Key Vault or Windows would export one) is opened with the
// password from `passwordEnv` and proves the app to the dev tenant through the real MSAL.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';
import type { GraphCredential } from '../../../broker/config/types.js';
import { graphAppClient } from '../../../broker/identity/graph-app-client.js';
import { createAppCertificate, registerAppCertificate } from '../../helpers/app-credentials.js';
import { graphClientFor, serveDevTenant, type Served } from '../devtenant/harness.js';

const GRAPH_APP = '6e5d4c3b-2a19-4f8e-b7d6-c5b4a3928170';
const IDENTITY = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const ENG = '1b8f4a2c-7d3e-4f5a-9b6c-0d1e2f3a4b5c';
let dir: string;
let certificateFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'access-graph-credential-'));
  certificateFile = (await createAppCertificate(dir, 'graph-app')).file;
  await writeFile(path.join(dir, 'token'), 'eyJ.header.payload\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A serve config whose `tenant.graph` block is `graph` (lines indented under it). */
function config(graph: string[]): string {
  return [
    'tenant:',
    '  id: 3f2b8c1e-5d4a-4e6f-9a7b-2c1d0e9f8a76',
    '  cliClientId: 0c5e7a3d-9b1f-4c2e-8d6a-7f4b3e2a1c90',
    '  audiences: [api://access-broker]',
    '  cliScope: api://access-broker/user_impersonation',
    '  graph:',
    ...graph.map((line) => `    ${line}`),
    'resources:',
    '  db:',
    '    kind: tcp',
    '    target: db.internal:5432',
    `    requesters: [${ENG}]`,
    `    approvers: [${ENG}]`,
    '    maxDuration: 1h',
    '',
  ].join('\n');
}

function parse(graph: string[], env: NodeJS.ProcessEnv = {}): { clientId: string | null; credential: GraphCredential } {
  const parsed = parseConfig(config(graph), 'config.yaml', env, { requireTenant: true, baseDir: dir });
  return parsed.tenant?.graph as { clientId: string | null; credential: GraphCredential };
}

function refusal(graph: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parse(graph, env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('tenant.graph.credential', () => {
  it('reads a certificate file (relative to the config) into its SHA-256 thumbprint and key', () => {
    const graph = parse([`clientId: ${GRAPH_APP}`, 'credential: { kind: certificate, file: graph-app.pem }']);
    expect(graph.credential).toMatchObject({ kind: 'certificate', file: certificateFile, thumbprintSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(graph.credential.kind === 'certificate' && graph.credential.privateKey).toContain('-----BEGIN PRIVATE KEY-----');
  });

  it('takes the federated token file from AZURE_FEDERATED_TOKEN_FILE when none is written', () => {
    const graph = parse([`clientId: ${GRAPH_APP}`, 'credential: { kind: federated }'], { AZURE_FEDERATED_TOKEN_FILE: path.join(dir, 'token') });
    expect(graph.credential).toEqual({ kind: 'federated', tokenFile: path.join(dir, 'token') });
  });

  it('takes a user-assigned managed identity by its client id, and a system-assigned one without', () => {
    expect(parse([`credential: { kind: managedIdentity, clientId: ${IDENTITY} }`])).toMatchObject({
      clientId: IDENTITY,
      credential: { kind: 'managedIdentity' },
    });
    expect(parse(['credential: { kind: managedIdentity }'])).toMatchObject({ clientId: null, credential: { kind: 'managedIdentity' } });
  });

  it('still reads clientSecretEnv as a client secret', () => {
    expect(parse([`clientId: ${GRAPH_APP}`, 'clientSecretEnv: GRAPH_SECRET'], { GRAPH_SECRET: 'x' }).credential).toEqual({
      kind: 'secret',
      env: 'GRAPH_SECRET',
      secret: 'x',
    });
  });

  it.each([
    ['no credential at all', [`clientId: ${GRAPH_APP}`], 'config.yaml:6 tenant.graph.credential: is required — how the broker proves it is the Graph app'],
    [
      'a key of another kind',
      [`clientId: ${GRAPH_APP}`, 'credential: { kind: certificate, file: graph-app.pem, env: X }'],
      'tenant.graph.credential.env: belongs to kind secret, not kind certificate — remove it or change kind',
    ],
    [
      'both credential and clientSecretEnv',
      [`clientId: ${GRAPH_APP}`, 'clientSecretEnv: X', 'credential: { kind: secret, env: X }'],
      'tenant.graph.clientSecretEnv: is the short form of `credential: { kind: secret, env: … }` — give one of the two, not both',
    ],
    [
      'an app client id next to a managed identity',
      [`clientId: ${GRAPH_APP}`, 'credential: { kind: managedIdentity }'],
      'tenant.graph.clientId: does not go with a managed identity — the identity is the app',
    ],
    [
      'a certificate without the app it belongs to',
      ['credential: { kind: certificate, file: graph-app.pem }'],
      'tenant.graph.clientId: is required — the application (client) id of the Graph app the certificate belongs to',
    ],
    [
      'a kind that does not exist',
      [`clientId: ${GRAPH_APP}`, 'credential: { kind: password }'],
      'tenant.graph.credential.kind: must be one of secret, certificate, federated, managedIdentity',
    ],
    [
      'a secret variable that is not set',
      [`clientId: ${GRAPH_APP}`, 'credential: { kind: secret, env: NOT_SET }'],
      'tenant.graph.credential.env: environment variable NOT_SET is not set',
    ],
    [
      'a federated credential without a token file',
      [`clientId: ${GRAPH_APP}`, 'credential: { kind: federated }'],
      'tenant.graph.credential: kind federated needs `tokenFile`, or AZURE_FEDERATED_TOKEN_FILE set in the environment',
    ],
    [
      'a federated token file that is missing',
      [`clientId: ${GRAPH_APP}`, 'credential: { kind: federated, tokenFile: nowhere }'],
      'tenant.graph.credential.tokenFile: cannot read the federated token file',
    ],
    [
      'a certificate file that is missing',
      [`clientId: ${GRAPH_APP}`, 'credential: { kind: certificate, file: missing.pem }'],
      'tenant.graph.credential.file: cannot read',
    ],
  ])('refuses %s', (_name, graph, message) => {
    expect(refusal(graph)).toContain(message);
  });

  it('refuses a secret written where its variable name belongs, without repeating it', () => {
    const message = refusal([`clientId: ${GRAPH_APP}`, 'credential: { kind: secret, env: "Zx8~q.secret-value-1234" }']);
    expect(message).toContain('tenant.graph.credential.env: must be the NAME of an environment variable');
    expect(message).not.toContain('Zx8~q.secret-value-1234');
  });

  it('refuses a certificate whose private key is another one', async () => {
    const other = await generate([{ name: 'commonName', value: 'other' }], { keyType: 'rsa', keySize: 2048, algorithm: 'sha256' });
    const certificate = (await createAppCertificate(dir, 'mismatch')).file;
    const pem = (await readFile(certificate, 'utf8')).replace(/-----BEGIN PRIVATE KEY-----[\s\S]+-----END PRIVATE KEY-----/, other.private.trim());
    await writeFile(path.join(dir, 'mismatch.pem'), pem);
    expect(refusal([`clientId: ${GRAPH_APP}`, 'credential: { kind: certificate, file: mismatch.pem }'])).toContain('does not belong to its certificate');
  });

  it('refuses an expired certificate and an EC key, which Entra cannot use', async () => {
    const expired = await generate([{ name: 'commonName', value: 'old' }], {
      keyType: 'rsa',
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate: new Date(Date.now() - 10 * 86_400_000),
      notAfterDate: new Date(Date.now() - 86_400_000),
    });
    await writeFile(path.join(dir, 'expired.pem'), `${expired.cert}\n${expired.private}\n`);
    expect(refusal([`clientId: ${GRAPH_APP}`, 'credential: { kind: certificate, file: expired.pem }'])).toContain('expired on');
    const ec = await generate([{ name: 'commonName', value: 'ec' }], { keyType: 'ec', algorithm: 'sha256' });
    await writeFile(path.join(dir, 'ec.pem'), `${ec.cert}\n${ec.private}\n`);
    expect(refusal([`clientId: ${GRAPH_APP}`, 'credential: { kind: certificate, file: ec.pem }'])).toContain('Entra app certificates must be RSA');
  });
});

const PASSWORD = 'pfx-Pa55word!';

/** Writes `name` as a PFX (AES-256 encrypted) of PEM `certificates` and the PEM `key` (null: certificates only). */
async function writePfx(name: string, certificates: string[], key: string | null, password = PASSWORD): Promise<string> {
  const asn1 = forge.pkcs12.toPkcs12Asn1(
    key === null ? null : forge.pki.privateKeyFromPem(key),
    certificates.map((text) => forge.pki.certificateFromPem(text)),
    password,
    { algorithm: 'aes256' },
  );
  const file = path.join(dir, name);
  await writeFile(file, Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary'), { mode: 0o600 });
  return file;
}

async function pemPair(name: string, notAfter?: Date): Promise<{ certificate: string; key: string; derBase64: string }> {
  const made = await createAppCertificate(dir, name, notAfter ? { notAfter } : {});
  const text = await readFile(made.file, 'utf8');
  const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0] as string;
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text)?.[0] as string;
  return { certificate, key, derBase64: made.derBase64 };
}

describe('tenant.graph.credential of a PFX file', () => {
  let served: Served;

  beforeAll(async () => {
    served = await serveDevTenant();
  });

  afterAll(async () => {
    await served.close();
  });

  /** The PFX credential line, read the way the broker reads it. */
  const pfx = (credential: string, env: NodeJS.ProcessEnv): GraphCredential => parse([`clientId: ${GRAPH_APP}`, `credential: ${credential}`], env).credential;
  const pfxRefusal = (credential: string, env: NodeJS.ProcessEnv = {}): string => refusal([`clientId: ${GRAPH_APP}`, `credential: ${credential}`], env);

  it('opens a PFX with the password from passwordEnv, gets a Graph token through MSAL and reads a group', async () => {
    const pair = await pemPair('pfx-graph-app');
    await writePfx('pfx-graph-app.pfx', [pair.certificate], pair.key);
    const credential = pfx('{ kind: certificate, file: pfx-graph-app.pfx, passwordEnv: ACCESS_GRAPH_CERT_PASSWORD }', {
      ACCESS_GRAPH_CERT_PASSWORD: PASSWORD,
    });
    expect(credential).toMatchObject({ kind: 'certificate', file: path.join(dir, 'pfx-graph-app.pfx'), certificatePem: pair.certificate.replaceAll('\r', '') });
    await registerAppCertificate(graphClientFor(served, served.tenant.directoryAdminApp), served.tenant.graphApp.clientId, {
      file: '',
      derBase64: pair.derBase64,
    });
    const client = graphAppClient(
      {
        clientId: served.tenant.graphApp.clientId,
        credential,
        authority: served.tenant.authority,
        baseUrl: served.tenant.graphBaseUrl,
        customAuthority: true,
      },
      served.transport,
    );
    const found = (await client.api('/groups').filter("displayName eq 'sg-eng'").get()) as { value: Array<{ id: string }> };
    const group = (await client.api(`/groups/${found.value[0]?.id}`).select('id,displayName').get()) as { displayName: string };
    expect(group.displayName).toBe('sg-eng');
  });

  it('tells a PFX by its content, not its name, and puts the certificate that matches the key first in the chain', async () => {
    const pair = await pemPair('pfx-renamed');
    const ca = await generate([{ name: 'commonName', value: 'issuing-ca' }], { keyType: 'rsa', keySize: 2048, algorithm: 'sha256' });
    // The CA certificate is first in the bundle; the app's certificate is the one its key belongs to.
    await writePfx('pfx-renamed.bin', [ca.cert, pair.certificate], pair.key, '');
    const credential = pfx('{ kind: certificate, file: pfx-renamed.bin }', {});
    expect(credential.kind === 'certificate' && credential.certificatePem.indexOf(pair.certificate.trim())).toBe(0);
    expect(credential.kind === 'certificate' && credential.certificatePem).toContain(ca.cert.trim());
  });

  it('refuses a wrong password, naming the variable it came from', async () => {
    const pair = await pemPair('pfx-wrong-password');
    await writePfx('pfx-wrong-password.pfx', [pair.certificate], pair.key);
    expect(pfxRefusal('{ kind: certificate, file: pfx-wrong-password.pfx, passwordEnv: GRAPH_PFX_PASSWORD }', { GRAPH_PFX_PASSWORD: 'not-it' })).toContain(
      'tenant.graph.credential.file: ' +
        `${path.join(dir, 'pfx-wrong-password.pfx')} is a PFX/PKCS#12 file that does not open with the password in $GRAPH_PFX_PASSWORD`,
    );
    expect(pfxRefusal('{ kind: certificate, file: pfx-wrong-password.pfx }')).toContain('does not open with an empty password (no passwordEnv is named');
  });

  it('refuses a passwordEnv that is not set, or holds the password itself', () => {
    expect(pfxRefusal('{ kind: certificate, file: pfx-graph-app.pfx, passwordEnv: NOT_SET }')).toContain(
      'tenant.graph.credential.passwordEnv: environment variable NOT_SET is not set',
    );
    const message = pfxRefusal('{ kind: certificate, file: pfx-graph-app.pfx, passwordEnv: "hunter 2!" }');
    expect(message).toContain('tenant.graph.credential.passwordEnv: must be the NAME of an environment variable');
    expect(message).not.toContain('hunter 2!');
  });

  it('refuses a PFX without a private key', async () => {
    const pair = await pemPair('pfx-no-key');
    await writePfx('pfx-no-key.pfx', [pair.certificate], null);
    expect(pfxRefusal('{ kind: certificate, file: pfx-no-key.pfx, passwordEnv: P }', { P: PASSWORD })).toContain(
      `${path.join(dir, 'pfx-no-key.pfx')} holds no private key`,
    );
  });

  it('refuses a PFX whose key is not its certificate’s, and an expired one, as a PEM file is', async () => {
    const pair = await pemPair('pfx-mismatch');
    const other = await pemPair('pfx-other');
    await writePfx('pfx-mismatch.pfx', [pair.certificate], other.key);
    expect(pfxRefusal('{ kind: certificate, file: pfx-mismatch.pfx, passwordEnv: P }', { P: PASSWORD })).toContain('does not belong to its certificate');
    const expired = await pemPair('pfx-expired', new Date(Date.now() - 3_600_000));
    await writePfx('pfx-expired.pfx', [expired.certificate], expired.key);
    expect(pfxRefusal('{ kind: certificate, file: pfx-expired.pfx, passwordEnv: P }', { P: PASSWORD })).toContain('expired on');
  });

  it('refuses passwordEnv next to a PEM file, which has no password', async () => {
    await pemPair('pfx-plain');
    expect(pfxRefusal('{ kind: certificate, file: pfx-plain.pem, passwordEnv: P }', { P: PASSWORD })).toContain(
      'is PEM, which has no password — remove passwordEnv',
    );
  });
});
