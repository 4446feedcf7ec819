// `access-broker dev`: the whole product on one machine with no cloud account. One loopback HTTP
// server carries the broker API and the embedded dev tenant (an Entra-compatible identity
// provider and a Microsoft Graph emulator); demo targets (a real PostgreSQL server and a TCP
// service) are started alongside unless `--config` brings a team's own resources.
// With `--tls-cert/--tls-key` the same server speaks HTTPS/WSS and the dev tenant is reached over
// real https on that origin (trusting `--tls-ca` or the self-signed certificate), exactly as a
// client reaches a real tenant: no plain-HTTP adaptation at all.

import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatDuration } from '../shared/duration.js';
import { HttpTransport } from '../shared/http-transport.js';
import { assembleBroker } from './assemble.js';
import type { Logger } from './log.js';
import { loadConfigFile } from './config/load.js';
import type { BrokerConfig, ResourcePolicy } from './config/types.js';
import { demoConfig } from './demo/demo-config.js';
import { startDemoPostgres } from './demo/postgres.js';
import { startDemoTcpService } from './demo/tcp-service.js';
import type { DemoTarget } from './demo/types.js';
import { DevTenant } from './devtenant/dev-tenant.js';
import { DEV_DIRECTORY } from './devtenant/seed.js';
import { devExposureWarning } from './dev-exposure.js';
import { certificateHostNames, HostAllowList } from './http/host-allow-list.js';
import { checkServesOwnOrigin, clientCaOf, createListener, listenerOrigin, loadBrokerTls, type BrokerTls, type TlsFiles } from './http/tls.js';
import { graphFaultsFromEnv } from './devtenant/graph-faults.js';
import { namesGroupsByDisplayName } from './config/group-refs.js';
import { buildIdentity } from './identity/build-identity.js';
import type { CloudName } from './identity/clouds.js';
import { identityFromDevTenant } from './identity/dev-identity.js';
import { signInResponse } from './identity/identity-settings.js';
import { Lifecycle } from './lifecycle.js';
import { openStore } from './store/open-store.js';
import { describeStore, storeSetting } from './store/store-setting.js';
import { BrokerMetrics } from './metrics/metrics.js';
import { serveMetrics } from './metrics/listener.js';
import { DEFAULT_DEV_DRAIN_TIMEOUT_MS, type OperationsOptions } from './operations.js';
import { listen } from './server.js';
import { DEFAULT_SIGN_IN_METHOD, type SignInMethod } from '../shared/wire.js';

/** Users listed with more groups than this show a count instead of every name. */
const MAX_GROUPS_SHOWN = 3;

export interface DevOptions {
  port: number;
  host: string;
  dataDir: string | null;
  configFile: string | null;
  env: NodeJS.ProcessEnv;
  log: Logger;
  print: (line: string) => void;
  /** Serve HTTPS/WSS with these files. Default: plain HTTP (loopback). */
  tls?: TlsFiles | null;
  /** Listen on a non-loopback `host` anyway (dev-exposure.ts), with a warning on every start. Default: false, refused. */
  unsafeExpose?: boolean;
  /** The Entra cloud the dev tenant presents itself as (`--cloud`). Default public. */
  cloud?: CloudName;
  /** The sign-in `access login` uses without a flag (`--sign-in`); overrides the config's devTenant.signIn. Default device-code. */
  signIn?: SignInMethod;
  /** Block device code sign-in as Conditional Access does (`--block-device-code`, or the config's devTenant.blockDeviceCode). Default false. */
  blockDeviceCode?: boolean;
  /** Seconds a device code lives (`--device-code-lifetime`): to try the "code expired" path. Default Entra's 900. */
  deviceCodeLifetimeSec?: number;
  /** Drain timeout and the metrics listener (operations.ts). Default: DEFAULT_DEV_DRAIN_TIMEOUT_MS, no metrics listener. */
  operations?: OperationsOptions;
  /** `--store URL`: a PostgreSQL store instead of SQLite in the data directory (store/store-setting.ts). Default: none. */
  store?: string | null;
}

export interface RunningDevBroker {
  url: string;
  stop(): Promise<void>;
  /** Ends a drain in progress: the tunnels still open are cut now. */
  hurry(): void;
}

export async function startDevBroker(options: DevOptions): Promise<RunningDevBroker> {
  // Before anything starts: a refusal leaves nothing behind.
  const exposure = devExposureWarning(options.host, options.unsafeExpose ?? false);
  if (exposure) options.log.warn(exposure);
  const tls = options.tls ? await loadBrokerTls(options.tls) : null;
  const config: BrokerConfig | null = options.configFile
    ? await loadConfigFile(options.configFile, options.env, { allowDevDirectory: true, requireTenant: false })
    : null;
  const clientCa = clientCaOf(config, tls);
  const ephemeral = options.dataDir === null;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'access-dev-')));
  const cleanups: Array<() => Promise<void>> = [];
  let hurry = (): void => undefined;
  const stop = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => options.log.warn('cleanup failed', { error: String(error) }));
    cleanups.length = 0;
  };
  // A data dir we create is search-only for others (see below); an existing one is left as it is.
  if (!ephemeral) await mkdir(dataDir, { recursive: true, mode: 0o711 });
  if (ephemeral) {
    // Search-only for others: PostgreSQL refuses to run as root, so under root the demo database
    // runs as an unprivileged user who must be able to reach its own (0700) directory inside.
    await chmod(dataDir, 0o711);
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  }

  try {
    const store = storeSetting({
      flag: options.store ?? null,
      env: options.env,
      configured: config?.store ? { url: config.store, source: config.source } : null,
      dataDir,
    });
    // The port listens first (the dev tenant's URLs name it); until the broker is assembled below,
    // the lifecycle answers every request with 503 not_ready rather than leaving it unanswered.
    const operations = options.operations ?? { drainTimeoutMs: DEFAULT_DEV_DRAIN_TIMEOUT_MS, metrics: null };
    const server = createListener(tls, clientCa);
    const lifecycle = new Lifecycle(options.log, { drainTimeoutMs: operations.drainTimeoutMs });
    hurry = () => lifecycle.hurry();
    lifecycle.attach(server);
    const address = await listen(server, options.port, options.host);
    cleanups.push(() => lifecycle.close());
    // Without TLS, MSAL and the Graph client are still given https URLs (they refuse http) and the
    // broker's own transport carries them over plain HTTP; a person's browser uses http.
    const browserOrigin = listenerOrigin(address, tls ? 'https' : 'http');
    const publicOrigin = listenerOrigin(address, 'https');
    if (tls) await checkServesOwnOrigin(publicOrigin, tls);

    const tenant = await DevTenant.open({
      publicOrigin,
      browserOrigin,
      directory: config?.devDirectory ?? DEV_DIRECTORY,
      dataDir: path.join(dataDir, 'tenant'),
      graphFault: graphFaultsFromEnv(options.env),
      cloud: options.cloud ?? 'public',
      blockDeviceCode: options.blockDeviceCode === true || config?.devSignIn?.blockDeviceCode === true,
      ...(options.deviceCodeLifetimeSec === undefined ? {} : { deviceCodeLifetimeSec: options.deviceCodeLifetimeSec }),
    });

    const targets: DemoTarget[] = [];
    let effective: BrokerConfig;
    if (config) {
      effective = config;
    } else {
      // PostgreSQL's own log (checkpoints and the like) only with ACCESS_DEBUG=1; failures are errors either way.
      const pgLog = options.env.ACCESS_DEBUG === '1' ? (line: string) => options.log.info(line) : () => undefined;
      const postgres = await startDemoPostgres({ dataDir: path.join(dataDir, 'postgres'), log: pgLog });
      cleanups.push(() => postgres.stop());
      const tcp = await startDemoTcpService();
      cleanups.push(() => tcp.stop());
      targets.push(postgres, tcp);
      effective = demoConfig({ postgres, tcp }, postgres.app.password);
    }

    const preferredSignIn = options.signIn ?? config?.devSignIn?.signIn ?? DEFAULT_SIGN_IN_METHOD;
    const identity = { ...identityFromDevTenant(tenant, { publicOrigin, plaintext: !tls }), preferredSignIn };
    const transport = tls ? new HttpTransport({ extraCa: tls.trust }) : new HttpTransport({ plaintextOrigins: [publicOrigin] });
    const metrics = new BrokerMetrics();
    const { verifier, directory, readiness } = buildIdentity(identity, {
      transport,
      observeGraph: metrics.graphCall,
      groupCacheSeconds: effective.groupCacheSeconds,
      graphRetryBudgetMs: effective.graphRetryBudgetMs,
      groupNamesMatter: namesGroupsByDisplayName(effective),
      warn: (message) => options.log.warn(message),
    });
    // Every route, the dev tenant's included, answers only to the broker's own names (DNS rebinding).
    const hosts = HostAllowList.forListener(address, tls ? 'https' : 'http', {
      origins: [browserOrigin, publicOrigin],
      names: certificateHostNames(tls?.chain[0]?.x509.subjectAltName),
    });
    const db = openStore(store);
    const broker = assembleBroker({
      config: effective,
      signIn: signInResponse(identity),
      verifier,
      directory,
      log: options.log,
      db,
      side: tenant,
      hosts,
      readiness,
      metrics,
    });
    lifecycle.serve(broker);
    // Cleanups run in reverse: stop taking requests and close the broker (event streams, tunnels,
    // scheduler, database) before the demo targets stop; the server itself closes last. The
    // metrics stay readable while the broker drains.
    const metricsListener = await serveMetrics(metrics, operations.metrics, options.log);
    if (metricsListener) cleanups.push(() => metricsListener.close());
    cleanups.push(() => lifecycle.stop());

    printBanner(options.print, {
      url: browserOrigin,
      dataDir: ephemeral ? null : dataDir,
      store: store.kind === 'postgres' ? describeStore(store) : null,
      tenant,
      config: effective,
      targets,
      tls,
      exposure,
      signIn: preferredSignIn,
    });
    return { url: browserOrigin, stop, hurry: () => hurry() };
  } catch (error) {
    await stop();
    throw error;
  }
}

function printBanner(
  print: (line: string) => void,
  info: {
    url: string;
    dataDir: string | null;
    /** The PostgreSQL store, when not SQLite in the data directory. */
    store: string | null;
    tenant: DevTenant;
    config: BrokerConfig;
    targets: DemoTarget[];
    tls: BrokerTls | null;
    exposure: string | null;
    signIn: SignInMethod;
  },
): void {
  print('access-broker dev: the broker, an Entra-compatible dev tenant and demo targets on this machine');
  print('');
  if (info.exposure) {
    print(`  WARNING       ${info.exposure}`);
    print('');
  }
  print(`  Broker URL    ${info.url}`);
  print(`  Sign in       access login --broker ${info.url}${info.tls?.trustFile ? ` --ca ${info.tls.trustFile}` : ''}`);
  print(`  Sign-in page  ${info.url}/devicelogin (device code); \`access login --browser\` opens the browser sign-in`);
  print(
    `  Sign-in       ${info.signIn === 'browser' ? 'browser by default' : 'device code by default'}${info.tenant.deviceCodeBlocked ? '; device code BLOCKED as by Conditional Access (AADSTS53003)' : ''}`,
  );
  if (info.tls) {
    const leaf = info.tls.chain[0]?.x509;
    print(`  TLS           ${info.tls.files.certFile}${leaf ? ` (${leaf.subjectAltName ?? leaf.subject}; until ${leaf.validTo})` : ''}`);
  }
  print(`  Tenant        ${info.tenant.tenantId} (dev)`);
  print(`  Data          ${info.dataDir ?? 'temporary, removed on exit (--data DIR keeps it)'}`);
  if (info.store) print(`  Store         ${info.store} (PostgreSQL)`);
  print('');
  print('  Dev users (choose one on the sign-in page):');
  const users = info.tenant.users();
  const width = Math.max(...users.map((u) => u.upn.length));
  for (const user of users) {
    const groups =
      user.groups.length > MAX_GROUPS_SHOWN
        ? `${user.groups.slice(0, MAX_GROUPS_SHOWN).join(', ')} + ${user.groups.length - MAX_GROUPS_SHOWN} more`
        : user.groups.join(', ') || '(no groups)';
    print(`    ${user.upn.padEnd(width)}  ${user.name.padEnd(18)}  ${groups}${user.mfa ? '  (MFA)' : ''}`);
  }
  print('');
  print('  Resources:');
  for (const r of info.config.resources) {
    print(
      `    ${r.name.padEnd(18)} ${r.kind.padEnd(9)} ${`${r.target.host}:${r.target.port}`.padEnd(16)} requesters ${r.requesters.join(',')}; ${r.approvals} approval(s) from ${r.approvers.join(',')}; max ${formatDuration(r.maxDurationMs)}${loginWords(r)}`,
    );
  }
  print('');
  print('Ready. Ctrl-C stops the broker and the demo targets.');
}

/** "; the broker logs in as demo_app": a resource with stored logins (credential injection), in the banner. */
function loginWords(resource: ResourcePolicy): string {
  if (resource.credentials.length === 0) return '';
  return `; the broker logs in as ${[...new Set(resource.credentials.map((credential) => credential.user))].join(' or ')}`;
}
