// `access-broker`'s entry point: `dev` (embedded dev tenant and demo targets), `serve` (a real
// Entra tenant), `backup`, `migrate` and `doctor`. The commands that open the store are loaded when run, so
// `--help` and `doctor` work without the SQLite binding (native-store.ts). The only top-level catch:
// errors print as one clear line, stack traces only with ACCESS_DEBUG=1.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import path from 'node:path';
import { formatDuration } from '../shared/duration.js';
import { AccessError, ExitCode } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { SIGN_IN_METHODS, type SignInMethod } from '../shared/wire.js';
import { parseDuration } from '../shared/duration.js';
import { DEVICE_CODE_LIFETIME_SEC } from './devtenant/device-codes.js';
import { parseWholeNumber } from '../shared/whole-number.js';
import { DATABASE_URL_ENV } from './config/store-url.js';
import { UNSAFE_EXPOSE_FLAG } from './dev-exposure.js';
import { runDoctor } from './doctor-command.js';
import type { TlsFiles } from './http/tls.js';
import { CLOUD_NAMES, type CloudName } from './identity/clouds.js';
import { consoleLogger, flushLogLines, LOG_FORMATS, type LogFormat, type Logger } from './log.js';
import { withStoreBinding } from './native-store.js';
import { onSignal } from '../shared/relay-launch.js';
import {
  DEFAULT_DEV_DRAIN_TIMEOUT_MS,
  DEFAULT_DEV_PORT,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_METRICS_HOST,
  parseDrainTimeout,
  parseListenAddress,
  parseLogFormat,
  type ListenAddress,
  type OperationsOptions,
} from './operations.js';

function parseCloud(value: string): CloudName {
  const name = value.trim().toLowerCase();
  if (!(CLOUD_NAMES as readonly string[]).includes(name)) throw new InvalidArgumentError(`"${value}" is not a cloud — use one of ${CLOUD_NAMES.join(', ')}`);
  return name as CloudName;
}

function parseSignIn(value: string): SignInMethod {
  const method = value.trim().toLowerCase();
  if (!(SIGN_IN_METHODS as readonly string[]).includes(method))
    throw new InvalidArgumentError(`"${value}" is not a sign-in — use ${SIGN_IN_METHODS.join(' or ')}`);
  return method as SignInMethod;
}

/** A device code lifetime in whole seconds, from 1 s to Entra's 15 minutes. */
function parseDeviceCodeLifetime(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms % 1000 !== 0 || ms < 1000 || ms > DEVICE_CODE_LIFETIME_SEC * 1000) {
    throw new InvalidArgumentError(`"${value}" is not a device code lifetime — use whole seconds from 1s to ${DEVICE_CODE_LIFETIME_SEC / 60}m, e.g. 30s`);
  }
  return ms / 1000;
}

function parsePort(value: string): number {
  const port = parseWholeNumber(value, 0, 65535);
  if (port === undefined) throw new InvalidArgumentError(`"${value}" is not a port — use a number from 0 (any free port) to 65535`);
  return port;
}

interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** `--tls-cert` and `--tls-key` come as a pair (absolute paths, so messages name the real files). */
function tlsFiles(opts: TlsFlags): TlsFiles | null {
  if (!opts.tlsCert && !opts.tlsKey) {
    if (opts.tlsCa) throw new AccessError('usage', `--tls-ca "${opts.tlsCa}" is the CA of a certificate: also pass --tls-cert FILE and --tls-key FILE`);
    return null;
  }
  if (!opts.tlsCert || !opts.tlsKey) {
    throw new AccessError(
      'usage',
      `--tls-cert and --tls-key go together: got only ${opts.tlsCert ? `--tls-cert "${opts.tlsCert}"` : `--tls-key "${opts.tlsKey}"`} — pass both`,
    );
  }
  return {
    certFile: path.resolve(opts.tlsCert),
    keyFile: path.resolve(opts.tlsKey),
    caFile: opts.tlsCa ? path.resolve(opts.tlsCa) : null,
  };
}

const TLS_CERT_HELP = "serve HTTPS/WSS with this PEM certificate (the broker's own first, then any intermediates)";
const TLS_KEY_HELP = 'the unencrypted PEM private key of --tls-cert';

/** A parser of operations.ts as commander wants it: its usage error becomes commander's. */
function flag<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
  };
}

interface OperationsFlags {
  logFormat: LogFormat;
  drainTimeout: number;
  metrics?: ListenAddress;
}

interface StoreFlags {
  config?: string;
  data: string;
}

/** Where `migrate` and `backup` find the store (store/store-setting.ts maintenanceStore). */
function storeSources(opts: StoreFlags): { configFile: string | null; dataDir: string; env: NodeJS.ProcessEnv } {
  return { configFile: opts.config ? path.resolve(opts.config) : null, dataDir: path.resolve(opts.data), env: process.env };
}

function operationsOf(opts: OperationsFlags): OperationsOptions {
  return { drainTimeoutMs: opts.drainTimeout, metrics: opts.metrics ?? null };
}

/** The flags `serve` and `dev` share (operations.ts), with their defaults. */
function withOperationsFlags(command: Command, defaultDrainMs: number): Command {
  return command
    .option('--log-format <format>', `operational log on stderr: ${LOG_FORMATS.join(' or ')} (one JSON object per line)`, flag(parseLogFormat), 'text')
    .addOption(
      new Option('--drain-timeout <duration>', 'on SIGTERM/SIGINT, how long open tunnels may finish before they are cut (e.g. 30s; 0 cuts at once)')
        .argParser(flag(parseDrainTimeout))
        .default(defaultDrainMs, defaultDrainMs === 0 ? '0, cut at once' : formatDuration(defaultDrainMs)),
    )
    .option(
      '--metrics <[host:]port>',
      `serve Prometheus metrics at GET /metrics on this separate listener (no token: a port alone binds ${DEFAULT_METRICS_HOST}); off by default`,
      flag(parseListenAddress),
    );
}

/** What stops a running broker: Ctrl-C, or a service manager's stop. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Runs `broker` until the process is asked to stop (Ctrl-C or a service manager's SIGTERM), then
 * drains and closes it; a second signal while draining cuts the open tunnels at once.
 */
async function runUntilSignal(broker: { stop(): Promise<void>; hurry(): void }, log: Logger): Promise<void> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const stops = STOP_SIGNALS.map((stop) =>
      onSignal(stop, () => {
        for (const off of stops) off();
        resolve(stop);
      }),
    );
  });
  log.info('stopping', { signal });
  const again = STOP_SIGNALS.map((stop) => onSignal(stop, () => broker.hurry()));
  try {
    await broker.stop();
  } finally {
    for (const off of again) off();
  }
  log.info('stopped');
}

export async function main(argv: string[] = process.argv): Promise<number> {
  let exit: number = ExitCode.ok;
  const program = new Command('access-broker')
    .description('The access broker: validates Entra tokens, holds the resource catalog and policy, and opens audited tunnels.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run `access-broker --help` for usage)');

  withOperationsFlags(
    program
      .command('dev')
      .description('run the broker with an embedded Entra-compatible dev tenant and demo resources (no cloud account needed)')
      .option('--port <n>', `port to listen on (0 = any free port)`, parsePort, DEFAULT_DEV_PORT)
      .option('--host <addr>', `address to listen on: loopback only, unless ${UNSAFE_EXPOSE_FLAG}`, '127.0.0.1')
      .option('--data <dir>', 'keep state (tenant keys, users, demo database) in DIR across restarts')
      .option('--config <file>', "use a team's own resources, policy and dev users/groups instead of the demo set")
      .option(
        '--store <url>',
        `keep requests, grants and the audit log in this PostgreSQL database (postgres://USER@HOST:5432/DATABASE) instead of SQLite; overrides ${DATABASE_URL_ENV} and the config's \`store\``,
      )
      .option('--tls-cert <file>', `${TLS_CERT_HELP}; the dev tenant is then served over https too`)
      .option('--tls-key <file>', TLS_KEY_HELP)
      .option(
        '--tls-ca <file>',
        'the PEM certificate of the CA that issued --tls-cert (default: trust --tls-cert itself when self-signed); the CLI names the same file with `access login --ca`',
      )
      .option(UNSAFE_EXPOSE_FLAG, 'let --host be a non-loopback address: serves the password-less dev sign-in page to the network (warns on every start)')
      .option(
        '--cloud <name>',
        `the Entra cloud the dev tenant presents itself as (its token issuers and Graph): ${CLOUD_NAMES.join(', ')}`,
        parseCloud,
        'public',
      )
      .option(
        '--sign-in <method>',
        `the sign-in \`access login\` uses without a flag: ${SIGN_IN_METHODS.join(' or ')} (default: the config's, else device-code)`,
        parseSignIn,
      )
      .option('--block-device-code', 'block device code sign-in the way a Conditional Access policy does (AADSTS53003): only `access login --browser` works')
      .option(
        '--device-code-lifetime <duration>',
        "how long a device code lives, e.g. 30s (default Entra's 15m): to try the expired-code path",
        parseDeviceCodeLifetime,
      ),
    DEFAULT_DEV_DRAIN_TIMEOUT_MS,
  ).action(
    async (
      opts: {
        port: number;
        host: string;
        data?: string;
        config?: string;
        store?: string;
        cloud: CloudName;
        unsafeExposeDevTenant?: boolean;
        signIn?: SignInMethod;
        blockDeviceCode?: boolean;
        deviceCodeLifetime?: number;
      } & TlsFlags &
        OperationsFlags,
    ) => {
      const log = consoleLogger(undefined, opts.logFormat);
      const { startDevBroker } = await withStoreBinding(() => import('./dev-command.js'));
      const broker = await startDevBroker({
        operations: operationsOf(opts),
        ...(opts.signIn ? { signIn: opts.signIn } : {}),
        blockDeviceCode: opts.blockDeviceCode === true,
        ...(opts.deviceCodeLifetime === undefined ? {} : { deviceCodeLifetimeSec: opts.deviceCodeLifetime }),
        unsafeExpose: opts.unsafeExposeDevTenant === true,
        cloud: opts.cloud,
        tls: tlsFiles(opts),
        port: opts.port,
        host: opts.host,
        dataDir: opts.data ? path.resolve(opts.data) : null,
        configFile: opts.config ? path.resolve(opts.config) : null,
        store: opts.store ?? null,
        env: process.env,
        log,
        print: (line) => process.stdout.write(`${line}\n`),
      });
      await runUntilSignal(broker, log);
    },
  );

  withOperationsFlags(
    program
      .command('serve')
      .description('run the broker for a real Microsoft Entra tenant')
      .requiredOption('--config <file>', 'the resources/policy/tenant YAML file')
      .option(
        '--data <dir>',
        `where the SQLite store (requests, grants, audit log) lives, unless the config's \`store\` or ${DATABASE_URL_ENV} names PostgreSQL`,
        'access-data',
      )
      .option('--no-migrate', "do not bring the store's schema up to date at start: refuse to start unless `access-broker migrate` already did")
      .option('--port <n>', 'port to listen on', parsePort, DEFAULT_DEV_PORT)
      .option('--host <addr>', 'address to listen on', '127.0.0.1')
      .option('--tls-cert <file>', TLS_CERT_HELP)
      .option('--tls-key <file>', TLS_KEY_HELP),
    DEFAULT_DRAIN_TIMEOUT_MS,
  ).action(async (opts: { port: number; host: string; config: string; data: string; migrate: boolean } & TlsFlags & OperationsFlags) => {
    const log = consoleLogger(undefined, opts.logFormat);
    const { startBroker } = await withStoreBinding(() => import('./serve-command.js'));
    const broker = await startBroker({
      operations: operationsOf(opts),
      tls: tlsFiles(opts),
      configFile: path.resolve(opts.config),
      dataDir: path.resolve(opts.data),
      migrate: opts.migrate,
      port: opts.port,
      host: opts.host,
      env: process.env,
      log,
    });
    await runUntilSignal(broker, log);
  });

  program
    .command('backup')
    .description(
      "copy the broker's SQLite database to FILE while it runs (SQLite's online backup API), then check the copy (integrity and the audit chain); a PostgreSQL store is backed up with pg_dump",
    )
    .argument('<file>', 'where the copy goes (written under a temporary name, renamed once checked)')
    .option('--data <dir>', 'the data directory the broker serves from (serve --data)', 'access-data')
    .option('--config <file>', `the config \`serve\` uses: only its \`store\` is read, to refuse a PostgreSQL store (as ${DATABASE_URL_ENV} does)`)
    .option('--force', 'replace FILE when it exists')
    .action(async (file: string, opts: StoreFlags & { force?: boolean }) => {
      const { runBackup, backupLines } = await withStoreBinding(() => import('./backup-command.js'));
      const { maintenanceStore } = await import('./store/store-setting.js');
      const report = await runBackup({ store: await maintenanceStore(storeSources(opts)), file, force: opts.force === true });
      process.stdout.write(`${backupLines(report).join('\n')}\n`);
    });

  program
    .command('migrate')
    .description(
      `bring the store's schema up to the version this broker knows (brokers do it at start unless \`serve --no-migrate\`); safe to repeat, and brokers starting meanwhile wait for it`,
    )
    .option('--config <file>', `the config \`serve\` uses: only its \`store\` is read (${DATABASE_URL_ENV} wins over it)`)
    .option('--data <dir>', 'the data directory of a SQLite store (serve --data), when no PostgreSQL store is named', 'access-data')
    .option('--status', 'only show the schema version of the store and the migrations still to apply')
    .action(async (opts: StoreFlags & { status?: boolean }) => {
      const { runMigrate, migrateLines } = await withStoreBinding(() => import('./migrate-command.js'));
      const { maintenanceStore } = await import('./store/store-setting.js');
      const report = runMigrate({ store: await maintenanceStore(storeSources(opts)), statusOnly: opts.status === true });
      process.stdout.write(`${migrateLines(report).join('\n')}\n`);
    });

  program
    .command('doctor')
    .description(
      'check the Entra setup a `serve` config relies on (discovery, Graph credential and permissions, groups, app registrations), with the fix for each problem',
    )
    .requiredOption('--config <file>', 'the resources/policy/tenant YAML file `serve` uses')
    .option('--dev-tenant-plaintext', 'the tenant is an `access-broker dev` on loopback without TLS: reach its https origins over plain HTTP')
    .action(async (opts: { config: string; devTenantPlaintext?: boolean }) => {
      const report = await runDoctor({ configFile: path.resolve(opts.config), env: process.env, devTenantPlaintext: opts.devTenantPlaintext ?? false });
      process.stdout.write(`${report.lines.join('\n')}\n`);
      exit = report.exitCode;
    });

  try {
    await program.parseAsync(argv);
    return exit;
  } catch (error) {
    if (error instanceof CommanderError) {
      exit = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? ExitCode.ok : ExitCode.usage;
      return exit;
    }
    const debug = process.env.ACCESS_DEBUG === '1';
    // What the broker logged before it failed comes first.
    flushLogLines();
    if (error instanceof AccessError) {
      process.stderr.write(`error: ${debug && error.stack ? error.stack : error.message}\n`);
      return error.exitCode === ExitCode.usage ? ExitCode.usage : ExitCode.error;
    }
    process.stderr.write(`unexpected error: ${error instanceof Error ? (debug ? error.stack : error.message) : String(error)}\n`);
    if (!debug) process.stderr.write('(set ACCESS_DEBUG=1 to see details)\n');
    return ExitCode.error;
  }
}
