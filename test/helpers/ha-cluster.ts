// Three `access-broker serve` processes behind a real HAProxy, the way a team runs the broker for
// availability, for the HA end-to-end test:
//   - the identity provider is an `access-broker dev` process over TLS: only its tenant is used
//     (people sign in on its page; the brokers read its signing keys and its Graph). It stands in for
//     Microsoft, so every process trusts its CA as it would trust the public roots
//     (NODE_EXTRA_CA_CERTS), and the brokers' config names it as a cloud written out host by host;
//   - the brokers serve plain HTTP on loopback, all from the same config, each on a port of its own
//     that stays the same across a restart;
//   - HAProxy (deploy/haproxy/access-brokers.cfg) terminates TLS with a certificate of the company's
//     own CA, which people name once with `access login --ca`, the way a real deployment is set up
//     (the brokers never see a certificate; they trust the proxy's X-Forwarded-For).
// Which broker answered is read from HAProxy: its X-Access-Broker response header for calls made
// here, its log (one line per request, written when the answer starts) for what the CLI did.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HttpTransport } from '../../shared/http-transport.js';
import { DOCTOR_SECRET_ENV, readDevTenantState, tenantBlock, valuesFromState, type DevTenantState } from './doctor-config.js';
import { REPO, freePort, startServeBrokerProcess, tempDir, type DevBrokerProcess } from './processes.js';
import { startBrokerBalancer, type RunningProxy } from './proxies.js';
import { createTestCa, type TestCa } from './test-ca.js';
import { startTlsDevBrokerProcess } from './tls-broker.js';
import { eventually, signIn, type Person } from './tunnel-broker.js';
import { startEchoServer, type LoopbackServer } from './tunnel-targets.js';

const TENANT_CONFIG = path.join(REPO, 'test/fixtures/ha-tenant.yaml');
/** The issuer host of the dev tenant's v2 tokens: it presents itself as Microsoft's public cloud. */
const DEV_TENANT_ISSUER_HOST = 'https://login.microsoftonline.com';

export const BROKER_NAMES = ['broker1', 'broker2', 'broker3'] as const;
export type BrokerName = (typeof BROKER_NAMES)[number];

export interface HaClusterOptions {
  /**
   * The PostgreSQL URL every broker stores in (ACCESS_DATABASE_URL). Default null: each broker keeps
   * its own SQLite store under its --data, which proves start-up, sign-in and routing only.
   */
  databaseUrl?: string | null;
}

/** One request as HAProxy logged it when the answer started. */
export interface EdgeLine {
  /** The broker that answered, or `<NOSRV>` when HAProxy answered itself (no broker up). */
  server: string;
  status: number;
  method: string;
  /** The path and query, e.g. /v1/tunnel?resource=echo. */
  uri: string;
}

export interface CallInit {
  method?: string;
  /** Sent as JSON. */
  body?: unknown;
}

/** An answer to a call made through the edge, with the broker that gave it. */
export interface EdgeAnswer {
  status: number;
  servedBy: string | null;
  body: string;
}

const EDGE_LINE = /^access-edge \S+ (\S+) (-?\d+) (\S+) (\S+) \S+$/gm;
/** HAProxy's health check verdicts: "Server brokers/broker1 is DOWN, reason: …". */
const HEALTH_LINE = /^Server brokers\/(broker\d) is (UP|DOWN)\b/gm;

interface BrokerSlot {
  name: BrokerName;
  port: number;
  dataDir: string;
  process: DevBrokerProcess | null;
}

export class HaCluster {
  readonly #slots: BrokerSlot[];
  readonly #serveConfig: string;
  readonly #brokerEnv: Record<string, string>;
  readonly #transport: HttpTransport;

  private constructor(
    readonly dir: string,
    readonly tenant: DevBrokerProcess,
    readonly tenantCa: TestCa,
    readonly edgeCa: TestCa,
    readonly edge: RunningProxy,
    readonly echo: LoopbackServer,
    readonly state: DevTenantState,
    slots: BrokerSlot[],
    serveConfig: string,
    brokerEnv: Record<string, string>,
  ) {
    this.#slots = slots;
    this.#serveConfig = serveConfig;
    this.#brokerEnv = brokerEnv;
    this.#transport = new HttpTransport({ extraCa: [edgeCa.cert] });
  }

  /** The URL people and scripts use: HAProxy's https origin. */
  get url(): string {
    return this.edge.url;
  }

  /** Starts the tenant, the three brokers and HAProxy; whatever started is stopped again if a later part fails. */
  static async start(options: HaClusterOptions = {}): Promise<HaCluster> {
    const dir = await tempDir('ha-cluster');
    const running: Array<{ stop(): Promise<void> }> = [];
    try {
      const echo = await startEchoServer();
      running.push({ stop: () => echo.close() });
      const tenantData = path.join(dir, 'tenant');
      const { broker: tenant, ca: tenantCa } = await startTlsDevBrokerProcess(['--data', tenantData, '--config', TENANT_CONFIG]);
      running.push(tenant);
      const state = await readDevTenantState(tenantData);
      const serveConfig = path.join(dir, 'access.yaml');
      await writeServeConfig(serveConfig, tenant.url, state, echo.port);
      const brokerEnv: Record<string, string> = {
        NODE_EXTRA_CA_CERTS: tenantCa.certFile,
        [DOCTOR_SECRET_ENV]: state.apps.graph.clientSecret as string,
        ...(options.databaseUrl ? { ACCESS_DATABASE_URL: options.databaseUrl } : {}),
      };
      const slots: BrokerSlot[] = [];
      for (const name of BROKER_NAMES) slots.push({ name, port: await freePort(), dataDir: path.join(dir, name), process: null });
      // HAProxy starts last, so its first checks find every broker up.
      const launched = await Promise.allSettled(slots.map((slot) => launch(slot, serveConfig, brokerEnv)));
      for (const slot of slots) if (slot.process) running.push(slot.process);
      for (const result of launched) if (result.status === 'rejected') throw result.reason;
      const edgeCa = await createTestCa(await tempDir('edge-ca'), 'edge-ca');
      const edgeCert = await edgeCa.issue('edge');
      const addresses = slots.map((slot) => `127.0.0.1:${slot.port}`) as [string, string, string];
      const edge = await startBrokerBalancer(addresses, `${edgeCert.cert.trim()}\n${edgeCert.key.trim()}\n`);
      return new HaCluster(dir, tenant, tenantCa, edgeCa, edge, echo, state, slots, serveConfig, brokerEnv);
    } catch (error) {
      await Promise.all(running.map((part) => part.stop()));
      throw error;
    }
  }

  #slot(name: BrokerName): BrokerSlot {
    const slot = this.#slots.find((s) => s.name === name);
    if (!slot) throw new Error(`no broker named ${name}`);
    return slot;
  }

  /** The running process of broker `name` (its log: `.stderr()`); throws when it is not running. */
  broker(name: BrokerName): DevBrokerProcess {
    const running = this.#slot(name).process;
    if (!running) throw new Error(`${name} is not running`);
    return running;
  }

  /** Starts broker `name` again on its own port with its own data directory; resolves once it listens. */
  async restart(name: BrokerName): Promise<void> {
    await launch(this.#slot(name), this.#serveConfig, this.#brokerEnv);
  }

  /** Restarts broker `name` if it is not running, and resolves once HAProxy sends it work again. */
  async revive(name: BrokerName): Promise<void> {
    if (isRunning(this.#slot(name).process)) return;
    await this.restart(name);
    await this.waitForHealth(name, 'UP');
  }

  /** `kill -9` of broker `name`, as a crash or the OOM killer: nothing of it runs after. Resolves once it is gone. */
  async kill(name: BrokerName): Promise<void> {
    const slot = this.#slot(name);
    await slot.process?.kill();
  }

  /** `access login` through the edge as dev user `NAME@contoso.dev`, in an ACCESS_HOME of their own. */
  async signIn(name: 'alice' | 'bob' | 'carol' | 'dave'): Promise<Person> {
    const home = await tempDir(`ha-${name}`);
    return signIn(
      this.url,
      `${name}@contoso.dev`,
      home,
      { args: ['--ca', this.edgeCa.certFile], pageCa: [this.tenantCa.cert], pageOrigin: this.tenant.url },
      // The tenant stands in for Microsoft: trusted like a public root, not through the broker's --ca.
      { NODE_EXTRA_CA_CERTS: this.tenantCa.certFile },
    );
  }

  /** A call through the edge as a script makes it (`token`: a bearer token, or none). */
  async call(pathAndQuery: string, token: string | null = null, init: CallInit = {}): Promise<EdgeAnswer> {
    const answer = await this.#request(this.url, pathAndQuery, token, init);
    return { ...answer, servedBy: answer.headers['x-access-broker'] ?? null };
  }

  /**
   * A call straight to broker `name`, past HAProxy, as a script on the brokers' network could make
   * it: how a test makes sure a decision is taken on another broker than the one holding a tunnel.
   */
  async callBroker(name: BrokerName, pathAndQuery: string, token: string | null = null, init: CallInit = {}): Promise<EdgeAnswer> {
    const answer = await this.#request(`http://127.0.0.1:${this.#slot(name).port}`, pathAndQuery, token, init);
    return { ...answer, servedBy: name };
  }

  async #request(base: string, pathAndQuery: string, token: string | null, init: CallInit): Promise<EdgeAnswer & { headers: Record<string, string> }> {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.#transport.request(`${base}${pathAndQuery}`, {
      method: init.method ?? 'GET',
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    return { status: res.status, servedBy: null, body: res.body.toString('utf8'), headers: res.headers };
  }

  /** The broker that answered the newest request HAProxy logged that `matches`, if any. */
  lastServer(matches: (line: EdgeLine) => boolean): string | undefined {
    return this.edgeLog().findLast(matches)?.server;
  }

  /** Every request HAProxy logged so far, oldest first. */
  edgeLog(): EdgeLine[] {
    return [...this.edge.output().matchAll(EDGE_LINE)].map((m) => ({
      server: m[1] as string,
      status: Number(m[2]),
      method: m[3] as string,
      uri: m[4] as string,
    }));
  }

  /** HAProxy's health verdicts so far, oldest first. */
  healthLog(): Array<{ server: BrokerName; state: 'UP' | 'DOWN' }> {
    return [...this.edge.output().matchAll(HEALTH_LINE)].map((m) => ({ server: m[1] as BrokerName, state: m[2] as 'UP' | 'DOWN' }));
  }

  /** Resolves once HAProxy's health checks have marked `name` as `state` (its latest verdict). */
  async waitForHealth(name: BrokerName, state: 'UP' | 'DOWN', timeoutMs = 30_000): Promise<void> {
    await eventually(
      `HAProxy to mark ${name} ${state}`,
      async () =>
        this.healthLog()
          .filter((line) => line.server === name)
          .at(-1)?.state === state
          ? true
          : undefined,
      timeoutMs,
    );
  }

  /** Stops HAProxy, every broker, the tenant and the echo target (SIGKILL for the proxy, SIGTERM for the brokers). */
  async stop(): Promise<void> {
    await this.edge.stop();
    await Promise.all(this.#slots.map((slot) => slot.process?.stop()));
    await this.tenant.stop();
    await this.echo.close();
  }
}

function isRunning(broker: DevBrokerProcess | null): boolean {
  return broker !== null && broker.child.exitCode === null && broker.child.signalCode === null;
}

/** Starts the slot's broker on its own port with its own data directory; resolves once it listens. */
async function launch(slot: BrokerSlot, serveConfig: string, env: Record<string, string>): Promise<void> {
  if (isRunning(slot.process)) throw new Error(`${slot.name} is still running`);
  await mkdir(slot.dataDir, { recursive: true });
  slot.process = await startServeBrokerProcess(['--config', serveConfig, '--data', slot.dataDir, '--port', String(slot.port), '--drain-timeout', '0'], env);
}

/**
 * The brokers' config, as an admin writes it for this tenant: groups by object id, HAProxy on
 * loopback as the trusted proxy, limits that let one person make bursts of requests, and the
 * resources — `echo` (a TCP echo server; alice asks, bob or carol approves), `orders` (the same
 * rules, for request and approval flows that hold no tunnel) and `pg` (the machine's PostgreSQL,
 * approved by policy for sg-eng).
 */
async function writeServeConfig(file: string, tenantUrl: string, state: DevTenantState, echoPort: number): Promise<void> {
  const values = valuesFromState(tenantUrl, state, ['sg-eng', 'sg-dba', 'sg-audit']);
  const [eng, dba, audit] = values.groupIds;
  const echoResource = (name: string, description: string): string[] => [
    `  ${name}:`,
    '    kind: tcp',
    `    description: ${description}`,
    `    target: 127.0.0.1:${echoPort}`,
    `    requesters: [${eng}]`,
    `    approvers: [${dba}]`,
    '    maxDuration: 1h',
  ];
  await writeFile(
    file,
    [
      ...tenantBlock(values, [DEV_TENANT_ISSUER_HOST]),
      'trustedProxies: [127.0.0.1/32]',
      // Bursts of requests from one person, spread over three brokers.
      'limits: { requestsPerMinute: 200, maxPendingPerUser: 200 }',
      `auditors: [${audit}]`,
      'resources:',
      ...echoResource('echo', 'Echoes every byte back'),
      ...echoResource('orders', 'Requests and approvals only (never connected to)'),
      '  pg:',
      '    kind: postgres',
      "    description: The machine's PostgreSQL",
      '    target: 127.0.0.1:5432',
      `    requesters: [${eng}]`,
      `    approvers: [${dba}]`,
      `    autoApprove: [${eng}]`,
      '    maxDuration: 1h',
      '    database: test',
      '    user: postgres',
      '',
    ].join('\n'),
  );
}
