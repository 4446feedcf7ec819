// The dev broker of the tunnel's end-to-end tests and the people who use it: the config from
// test/fixtures/tunnel.yaml with the ports of this run's targets filled in, people signed in with
// their own ACCESS_HOME, grants taken by policy, `access connect` listeners, and what a person or
// script can do beside the CLI with their own token (an auditor reading the audit API, someone
// opening /v1/tunnel by hand, the directory admin app changing group membership through Graph).

import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import { HttpTransport } from '../../shared/http-transport.js';
import type { AuditSessionsResponse, AuditSessionView, RequestView } from '../../shared/wire.js';
import { REPO, cleanEnv, login, runCli, runCliJson, startCli, tempDir, waitForMatch, type CliResult, type CliRun, type LoginOptions } from './processes.js';

export const TUNNEL_CONFIG_TEMPLATE = path.join(REPO, 'test/fixtures/tunnel.yaml');

/** The placeholders of the fixture, each a loopback port of this run. */
export interface TunnelPorts {
  ECHO_PORT: number;
  BLOB_PORT: number;
  SSHD_PORT: number;
  CLOSED_PORT: number;
}

/** Writes the fixture with `ports` filled in to `dir`/tunnel.yaml and returns its path. */
export function writeTunnelConfig(dir: string, ports: TunnelPorts): Promise<string> {
  return writeConfigFromTemplate(TUNNEL_CONFIG_TEMPLATE, dir, { ...ports });
}

/** Writes `template` (a test/fixtures YAML with `${NAME}` placeholders) with `ports` filled in to `dir` and returns its path. */
export async function writeConfigFromTemplate(template: string, dir: string, ports: Readonly<Record<string, number | string>>): Promise<string> {
  const text = await readFile(template, 'utf8');
  const filled = text.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
    const port = ports[name];
    if (port === undefined) throw new Error(`${template} names \${${name}}, which the test did not give`);
    return String(port);
  });
  const file = path.join(dir, path.basename(template));
  await writeFile(file, filled);
  return file;
}

/**
 * Every CLI here keeps its tokens in ACCESS_HOME/tokens.json, even on a desktop with a keychain:
 * some tests read a person's own access token from there, as a script of theirs could.
 */
const TOKEN_FILE_ENV = { ACCESS_TOKEN_STORE: 'file' } as const;

/** A signed-in person: their ACCESS_HOME and the CLI run as them. */
export class Person {
  constructor(
    readonly upn: string,
    readonly home: string,
    /** Environment every CLI run of theirs gets (the token store, the CA for a TLS broker). */
    readonly env: Record<string, string>,
  ) {}

  run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return runCli(args, this.home, { ...this.env, ...env });
  }

  start(args: string[], env: Record<string, string> = {}): CliRun {
    return startCli(args, this.home, { ...this.env, ...env });
  }

  json<T>(args: string[]): Promise<T> {
    return runCliJson<T>(args, this.home, this.env);
  }
}

/** `access login` as `upn` into `home` (already created); `env` is kept for every later CLI run of theirs. */
export async function signIn(brokerUrl: string, upn: string, home: string, options: LoginOptions = {}, env: Record<string, string> = {}): Promise<Person> {
  const result = await login(brokerUrl, home, upn, { ...TOKEN_FILE_ENV, ...env }, options);
  if (result.code !== 0) throw new Error(`login of ${upn} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return new Person(upn, home, { ...TOKEN_FILE_ENV, ...env });
}

/** Each dev user `NAME@contoso.dev` signed in at once, each in an ACCESS_HOME of their own. */
export async function signInEach<const Names extends readonly string[]>(brokerUrl: string, names: Names): Promise<{ -readonly [K in keyof Names]: Person }> {
  const people = await Promise.all(names.map(async (name) => signIn(brokerUrl, `${name}@contoso.dev`, await tempDir(name))));
  return people as { -readonly [K in keyof Names]: Person };
}

/**
 * The end of a fault test's dev config: sg-audit audits, and the dev tenant's people — alice asks
 * (sg-eng), bob approves (sg-dba), dave audits (sg-audit).
 */
export const FAULT_TEST_PEOPLE = [
  'auditors: [sg-audit]',
  'devTenant:',
  '  groups: [{ name: sg-eng }, { name: sg-dba }, { name: sg-audit }]',
  '  users:',
  '    - { upn: alice@contoso.dev, name: Alice, groups: [sg-eng] }',
  '    - { upn: bob@contoso.dev, name: Bob, groups: [sg-dba] }',
  '    - { upn: dave@contoso.dev, name: Dave, groups: [sg-audit] }',
  '',
].join('\n');

/** A grant on `resource` for `duration`, approved by policy the moment it is asked for. */
export async function grant(person: Person, resource: string, duration: string): Promise<RequestView> {
  const view = await person.json<RequestView>(['request', resource, '--for', duration]);
  if (view.state !== 'approved') throw new Error(`expected ${resource} to be approved by policy, got ${view.state}`);
  return view;
}

export interface Listening {
  run: CliRun;
  host: string;
  port: number;
}

/** "Tunnel to pg (postgres) on 127.0.0.1:54321 — access until …": where the listener listens. */
export const LISTENING_LINE = /Tunnel to \S+ \(\S+\) on \[?([^\]\s]+?)\]?:(\d+) —/;

/** `access connect NAME [args]` in listener mode; resolves once it printed where it listens. */
export async function startListener(person: Person, resource: string, args: string[] = []): Promise<Listening> {
  const run = person.start(['connect', resource, ...args]);
  const match = await Promise.race([
    waitForMatch(run.stdout, LISTENING_LINE),
    run.done.then((result) => {
      throw new Error(`access connect ${resource} exited with ${result.code} before listening:\n${result.stdout}\n${result.stderr}`);
    }),
  ]);
  return { run, host: match[1] as string, port: Number(match[2]) };
}

/** Ctrl-C on a listener, as a person ends it; resolves with how it ended (0 and its tunnels closed). */
export function stopListener(listening: Listening): Promise<CliResult> {
  listening.run.child.kill('SIGINT');
  return listening.run.done;
}

interface MsalCacheFile {
  AccessToken?: Record<string, { secret: string; expires_on: string }>;
}

/** The person's own access token for the broker, from the token cache `access login` wrote. */
export async function accessToken(person: Person): Promise<string> {
  const cache = JSON.parse(await readFile(path.join(person.home, 'tokens.json'), 'utf8')) as MsalCacheFile;
  const newest = Object.values(cache.AccessToken ?? {}).sort((a, b) => Number(b.expires_on) - Number(a.expires_on))[0];
  if (!newest) throw new Error(`no access token in ${person.home}/tokens.json`);
  return newest.secret;
}

/** The broker's HTTP API called with a bearer token, as a script would. `ca`: for an https broker. */
export class BrokerApi {
  readonly #http: HttpTransport;
  readonly #ca: readonly string[];

  constructor(
    readonly url: string,
    ca: readonly string[] = [],
  ) {
    this.#ca = ca;
    this.#http = new HttpTransport({ extraCa: ca });
  }

  async get<T>(token: string, pathAndQuery: string): Promise<T> {
    const res = await this.#http.request(`${this.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${token}` } });
    const body = res.body.toString('utf8');
    if (res.status !== 200) throw new Error(`GET ${pathAndQuery} answered ${res.status}: ${body}`);
    return JSON.parse(body) as T;
  }

  /** The audit log's sessions of `resource`, newest first (the token must be an auditor's). */
  async sessions(auditorToken: string, resource: string): Promise<AuditSessionView[]> {
    const page = await this.get<AuditSessionsResponse>(auditorToken, `/v1/audit/sessions?resource=${encodeURIComponent(resource)}`);
    return page.sessions;
  }

  /** The newest session of `resource` that `matches`, once it has closed (the audit log is polled until then). */
  closedSession(auditorToken: string, resource: string, matches: (session: AuditSessionView) => boolean = () => true): Promise<AuditSessionView> {
    return eventually(`a closed ${resource} session in the audit log`, async () => {
      const found = (await this.sessions(auditorToken, resource)).find(matches);
      return found?.closedAt ? found : undefined;
    });
  }

  /**
   * Opens /v1/tunnel for `resource` with `token`, without the CLI. Resolves with the open socket,
   * or with the HTTP status and `{code, message}` body of the refusal.
   */
  openTunnel(token: string, resource: string): Promise<{ open: WebSocket } | { status: number; code: string; message: string }> {
    const url = new URL(`${this.url}/v1/tunnel`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('resource', resource);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers: { authorization: `Bearer ${token}` },
        perMessageDeflate: false,
        ...(this.#ca.length ? { ca: [...this.#ca] } : {}),
      });
      ws.once('open', () => resolve({ open: ws }));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => {
          req.destroy();
          const parsed = JSON.parse(body) as { code: string; message: string };
          resolve({ status: res.statusCode ?? 0, code: parsed.code, message: parsed.message });
        });
      });
    });
  }
}

interface DevTenantState {
  tenantId: string;
  apps: { directoryAdmin: { clientId: string; clientSecret: string }; automation: { clientId: string } };
}

/**
 * The dev tenant's directory admin app, as a script outside the broker uses it: its credentials
 * from `<data>/tenant/dev-tenant.json`, a client-credentials token, and Graph's member `$ref` calls.
 */
export class DirectoryAdmin {
  constructor(
    readonly brokerUrl: string,
    readonly dataDir: string,
  ) {}

  async #token(): Promise<string> {
    const state = JSON.parse(await readFile(path.join(this.dataDir, 'tenant', 'dev-tenant.json'), 'utf8')) as DevTenantState;
    const res = await fetch(`${this.brokerUrl}/${state.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: state.apps.directoryAdmin.clientId,
        client_secret: state.apps.directoryAdmin.clientSecret,
        scope: 'https://graph.microsoft.com/.default',
      }).toString(),
    });
    if (res.status !== 200) throw new Error(`directory admin token: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async #graph<T>(token: string, method: string, pathAndQuery: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.brokerUrl}/graph/v1.0${pathAndQuery}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  /** A token, the user's object id and the group's, as a script looks them up in Graph. */
  async #membership(upn: string, group: string): Promise<{ token: string; userId: string; groupId: string }> {
    const token = await this.#token();
    const user = await this.#graph<{ id: string }>(token, 'GET', `/users/${encodeURIComponent(upn)}`);
    const filter = encodeURIComponent(`displayName eq '${group}'`);
    const found = await this.#graph<{ value: Array<{ id: string }> }>(token, 'GET', `/groups?$filter=${filter}`);
    const groupId = found.body.value[0]?.id;
    if (!groupId) throw new Error(`no group named ${group} in the dev tenant`);
    return { token, userId: user.body.id, groupId };
  }

  /** The client id of the dev tenant's automation app (a confidential client holding the API's Access.Automation role). */
  async automationAppId(): Promise<string> {
    const state = JSON.parse(await readFile(path.join(this.dataDir, 'tenant', 'dev-tenant.json'), 'utf8')) as DevTenantState;
    return state.apps.automation.clientId;
  }

  /** Registers `derBase64` (a certificate) on app `appId`, replacing its certificates, as an admin does through Graph. */
  async registerCertificate(appId: string, derBase64: string): Promise<void> {
    const token = await this.#token();
    const patched = await this.#graph<unknown>(token, 'PATCH', `/applications(appId='${appId}')`, {
      keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: derBase64, displayName: 'CN=access-e2e-workload' }],
    });
    if (patched.status !== 204) throw new Error(`registering a certificate on ${appId} answered ${patched.status}: ${JSON.stringify(patched.body)}`);
  }

  /** Removes `upn` from the group named `group` (DELETE /groups/{id}/members/{oid}/$ref). */
  async removeFromGroup(upn: string, group: string): Promise<void> {
    const { token, userId, groupId } = await this.#membership(upn, group);
    const removed = await this.#graph<unknown>(token, 'DELETE', `/groups/${groupId}/members/${userId}/$ref`);
    if (removed.status !== 204) throw new Error(`removing ${upn} from ${group} answered ${removed.status}`);
  }

  /** Adds `upn` to the group named `group` (POST /groups/{id}/members/$ref). */
  async addToGroup(upn: string, group: string): Promise<void> {
    const { token, userId, groupId } = await this.#membership(upn, group);
    const added = await this.#graph<unknown>(token, 'POST', `/groups/${groupId}/members/$ref`, {
      '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${userId}`,
    });
    if (added.status !== 204) throw new Error(`adding ${upn} to ${group} answered ${added.status}`);
  }
}

/** Polls `check` until it returns a value other than undefined; throws with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs a program other than the CLI (psql, ssh) to its end, without access settings but `env`. */
export function runProgram(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
