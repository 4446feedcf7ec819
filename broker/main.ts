// `access-broker`'s entry point: `dev` (embedded dev tenant and demo targets) and `serve` (a real
// Entra tenant). The only top-level catch: errors print as one clear line, stack traces only
// with ACCESS_DEBUG=1.

import { Command, CommanderError, InvalidArgumentError } from 'commander';
import path from 'node:path';
import { AccessError, ExitCode } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { SIGN_IN_METHODS, type SignInMethod } from '../shared/wire.js';
import { parseDuration } from '../shared/duration.js';
import { DEVICE_CODE_LIFETIME_SEC } from './devtenant/device-codes.js';
import { parseWholeNumber } from '../shared/whole-number.js';
import { DEFAULT_DEV_PORT, startDevBroker } from './dev-command.js';
import { UNSAFE_EXPOSE_FLAG } from './dev-exposure.js';
import { runDoctor } from './doctor-command.js';
import type { TlsFiles } from './http/tls.js';
import { CLOUD_NAMES, type CloudName } from './identity/clouds.js';
import { consoleLogger } from './log.js';
import { startBroker } from './serve-command.js';

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

/** Resolves when the process is asked to stop (Ctrl-C or a service manager's SIGTERM). */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const log = consoleLogger();
  let exit: number = ExitCode.ok;
  const program = new Command('access-broker')
    .description('The access broker: validates Entra tokens, holds the resource catalog and policy, and opens audited tunnels.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run `access-broker --help` for usage)');

  program
    .command('dev')
    .description('run the broker with an embedded Entra-compatible dev tenant and demo resources (no cloud account needed)')
    .option('--port <n>', `port to listen on (0 = any free port)`, parsePort, DEFAULT_DEV_PORT)
    .option('--host <addr>', `address to listen on: loopback only, unless ${UNSAFE_EXPOSE_FLAG}`, '127.0.0.1')
    .option('--data <dir>', 'keep state (tenant keys, users, demo database) in DIR across restarts')
    .option('--config <file>', "use a team's own resources, policy and dev users/groups instead of the demo set")
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
    )
    .action(
      async (
        opts: {
          port: number;
          host: string;
          data?: string;
          config?: string;
          cloud: CloudName;
          unsafeExposeDevTenant?: boolean;
          signIn?: SignInMethod;
          blockDeviceCode?: boolean;
          deviceCodeLifetime?: number;
        } & TlsFlags,
      ) => {
        const broker = await startDevBroker({
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
          env: process.env,
          log,
          print: (line) => process.stdout.write(`${line}\n`),
        });
        const signal = await untilSignal();
        log.info('stopping', { signal });
        await broker.stop();
      },
    );

  program
    .command('serve')
    .description('run the broker for a real Microsoft Entra tenant')
    .requiredOption('--config <file>', 'the resources/policy/tenant YAML file')
    .option('--data <dir>', 'where the store (requests, grants, audit log) lives', 'access-data')
    .option('--port <n>', 'port to listen on', parsePort, DEFAULT_DEV_PORT)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--tls-cert <file>', TLS_CERT_HELP)
    .option('--tls-key <file>', TLS_KEY_HELP)
    .action(async (opts: { port: number; host: string; config: string; data: string } & TlsFlags) => {
      const broker = await startBroker({
        tls: tlsFiles(opts),
        configFile: path.resolve(opts.config),
        dataDir: path.resolve(opts.data),
        port: opts.port,
        host: opts.host,
        env: process.env,
        log,
      });
      const signal = await untilSignal();
      log.info('stopping', { signal });
      await broker.stop();
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
    if (error instanceof AccessError) {
      process.stderr.write(`error: ${debug && error.stack ? error.stack : error.message}\n`);
      return error.exitCode === ExitCode.usage ? ExitCode.usage : ExitCode.error;
    }
    process.stderr.write(`unexpected error: ${error instanceof Error ? (debug ? error.stack : error.message) : String(error)}\n`);
    if (!debug) process.stderr.write('(set ACCESS_DEBUG=1 to see details)\n');
    return ExitCode.error;
  }
}
