// End to end with real processes: a workload — the dev tenant's automation app, a service principal
// holding the API's Access.Automation role — signs in with a CERTIFICATE registered on it through
// Graph (`access login --service-principal --certificate`, MSAL's ConfidentialClientApplication
// against the dev tenant), is approved by policy on the resource whose `workloads` name it, opens a
// tunnel to a TCP echo target, and is refused on a resource whose policy does not name it. Nothing
// secret is written to its ACCESS_HOME, and the audit log names the app.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditShowResponse, RequestView, ResourceSummary } from '../../shared/wire.js';
import { createAppCertificate, type AppCertificate } from '../helpers/app-credentials.js';
import { REPO, startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';
import { BrokerApi, DirectoryAdmin, Person, accessToken, signIn, startListener, stopListener, writeConfigFromTemplate } from '../helpers/tunnel-broker.js';
import { connectTcp, echoRoundTrip, startEchoServer, type LoopbackServer } from '../helpers/tunnel-targets.js';

const CONFIG_TEMPLATE = path.join(REPO, 'test/fixtures/workloads.yaml');
/** The dev tenant's automation app registration's display name (broker/devtenant/apps.ts). */
const APP_NAME = 'access automation (dev)';
/** Names no app: the first start only brings the dev tenant's apps into being. */
const NO_APP = '00000000-0000-4000-8000-000000000000';

let echo: LoopbackServer;
let broker: DevBrokerProcess;
let appId: string;
let certificate: AppCertificate;
let robot: Person;
let api: BrokerApi;
let auditorToken: string;

beforeAll(async () => {
  echo = await startEchoServer();
  const dir = await tempDir('workloads');
  const dataDir = path.join(dir, 'data');
  // The dev tenant makes its apps (and their client ids) at first start; the policy names the app after.
  const first = await startDevBrokerProcess([
    '--data',
    dataDir,
    '--config',
    await writeConfigFromTemplate(CONFIG_TEMPLATE, dir, { ECHO_PORT: echo.port, WORKLOAD: NO_APP }),
  ]);
  appId = await new DirectoryAdmin(first.url, dataDir).automationAppId();
  await first.stop();
  const config = await writeConfigFromTemplate(CONFIG_TEMPLATE, dir, { ECHO_PORT: echo.port, WORKLOAD: appId });
  broker = await startDevBrokerProcess(['--data', dataDir, '--config', config]);
  api = new BrokerApi(broker.url);
  // An admin registers the workload's certificate on its app, through Graph.
  certificate = await createAppCertificate(dir, 'workload');
  await new DirectoryAdmin(broker.url, dataDir).registerCertificate(appId, certificate.derBase64);
  robot = new Person(`app ${appId}`, await tempDir('robot'), {});
  auditorToken = await accessToken(await signIn(broker.url, 'dave@contoso.dev', await tempDir('dave')));
});

afterAll(async () => {
  await broker?.stop();
  await echo?.close();
});

describe('a workload signed in with a certificate', () => {
  it('signs in with client credentials and remembers where the certificate is, never the key or a token', async () => {
    const login = await robot.run(['login', '--broker', broker.url, '--service-principal', '--client-id', appId, '--certificate', certificate.file]);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`(app ${appId})`);
    const settings = await readFile(path.join(robot.home, 'config.json'), 'utf8');
    expect(JSON.parse(settings)).toMatchObject({ workload: { clientId: appId, credential: { kind: 'certificate', file: certificate.file } } });
    expect(settings).not.toContain('PRIVATE KEY');
    // No token cache: every command asks the tenant with the credential.
    expect(await readdir(robot.home)).toEqual(['config.json']);
  });

  it('is approved by policy on the resource that names it and opens a tunnel to its target', async () => {
    const listed = await robot.json<ResourceSummary[]>(['resources', '--json']);
    expect(listed).toEqual([expect.objectContaining({ name: 'echo-robots', canRequest: true, autoApproved: true })]);
    const granted = await robot.json<RequestView>(['request', 'echo-robots', '--for', '10m', '--json']);
    expect(granted.state).toBe('approved');
    const listening = await startListener(robot, 'echo-robots');
    try {
      const socket = await connectTcp(listening.host, listening.port);
      expect(await echoRoundTrip(socket, 'hello from a workload')).toBe('hello from a workload');
      socket.destroy();
    } finally {
      await stopListener(listening);
    }
    // The audit log names the app by its display name (read from Graph) and client id, keyed by its service principal.
    const story = await api.get<AuditShowResponse>(auditorToken, `/v1/audit/show/${granted.id}`);
    const created = story.entries.find((entry) => entry.type === 'request.created');
    expect(created?.actor?.upn).toBe(`${APP_NAME} (app ${appId})`);
    expect(story.entries.map((entry) => entry.type)).toContain('request.auto_approved');
  });

  it('is let through forward-auth by policy where it is a workload, and refused elsewhere', async () => {
    const printed = await robot.run(['token']);
    expect(printed.code, printed.stderr).toBe(0);
    const ask = (resource: string) =>
      fetch(`${broker.url}/v1/forward-auth?resource=${resource}`, { headers: { authorization: `Bearer ${printed.stdout.trim()}` } });
    const allowed = await ask('echo-robots');
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('x-access-kind')).toBe('workload');
    expect(allowed.headers.get('x-access-user')).toBe(appId);
    const refused = await ask('echo-people');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('x-access-reason')).toBe('not_a_workload');
  });

  it('is refused on a resource whose policy does not name it, with the reason', async () => {
    const refused = await robot.run(['request', 'echo-people', '--for', '10m']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('resources.echo-people.workloads');
  });

  it('signs in from the Azure SDK environment alone (AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH)', async () => {
    const other = new Person(`app ${appId}`, await tempDir('robot-env'), {});
    const login = await other.run(['login', '--broker', broker.url, '--service-principal'], {
      AZURE_CLIENT_ID: appId,
      AZURE_CLIENT_CERTIFICATE_PATH: certificate.file,
    });
    expect(login.code, login.stderr).toBe(0);
    const mine = await other.json<RequestView[]>(['requests', '--json']);
    expect(mine.some((request) => request.resource === 'echo-robots')).toBe(true);
  });

  it('refuses a certificate the app does not hold, saying the sign-in failed', async () => {
    const stranger = await createAppCertificate(await tempDir('stranger'), 'stranger');
    const login = await robot.run(['login', '--broker', broker.url, '--service-principal', '--client-id', appId, '--certificate', stranger.file]);
    expect(login.code).not.toBe(0);
    expect(login.stderr).toMatch(/sign|certificate|token/i);
  });
});
