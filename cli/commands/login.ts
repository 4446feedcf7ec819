// `access login [--broker URL] [--ca FILE] [--browser | --device-code | --service-principal …]`: Entra ID sign-in, by
// device code or through the browser (authorization code + PKCE, loopback redirect); without a flag
// the tenant's preferred sign-in from /v1/config (device code unless the broker names `browser`).
// The sign-in instructions go to stderr; the result (who you are) to stdout. The broker URL and the
// private CA that issued its certificate (if any) are remembered for the following commands.
// `--service-principal` signs a workload in with client credentials instead (cli/auth/workload.ts).

import type { WhoAmIResponse } from '../../shared/wire.js';
import { AccessError } from '../../shared/errors.js';
import { Session, servesOwnTenant, transportFor } from '../auth/session.js';
import { WorkloadSession, workloadFromFlags, type WorkloadSettings } from '../auth/workload.js';
import { checkSignInFlags, chooseSignInMethod, signInAtTerminal } from '../auth/sign-in.js';
import { BrokerClient } from '../broker-client.js';
import { fetchSignInConfig } from '../broker-connection.js';
import { caFileToRemember, resolveBrokerTrust } from '../broker-trust.js';
import { clientCertificateToRemember } from '../client-certificate.js';
import { debugLogger } from '../context.js';
import { readSettings, resolveBrokerUrl, writeSettings } from '../settings.js';
import { stringOption, type CommandRun } from './command.js';

/** The flags that only mean something with --service-principal. */
const WORKLOAD_FLAGS = ['clientId', 'tenant', 'certificate', 'secretEnv', 'federatedTokenFile'] as const;

export const run: CommandRun = async (ctx, options) => {
  const workloadFlags = WORKLOAD_FLAGS.filter((name) => options[name] !== undefined);
  if (options.servicePrincipal !== true && workloadFlags.length > 0) {
    throw new AccessError(
      'usage',
      `--${workloadFlags[0]?.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for a workload's sign-in: add --service-principal`,
    );
  }
  if (options.servicePrincipal === true && (options.browser === true || options.deviceCode === true)) {
    throw new AccessError('usage', '--service-principal signs in with client credentials: it takes no --browser or --device-code');
  }
  const flags = { browser: options.browser === true, deviceCode: options.deviceCode === true };
  checkSignInFlags(flags);
  const settings = await readSettings(ctx.home);
  const brokerUrl = resolveBrokerUrl(stringOption(options, 'broker'), ctx.env, settings);
  const trust = await resolveBrokerTrust({
    caFlag: stringOption(options, 'ca'),
    certFlag: stringOption(options, 'cert'),
    keyFlag: stringOption(options, 'key'),
    env: ctx.env,
    settings,
    brokerUrl,
  });
  // What is remembered besides the broker: its private CA and the client certificate's files (paths, never the key's content).
  const caFile = caFileToRemember(trust, settings, brokerUrl);
  const remembered = { ...(caFile ? { caFile } : {}), ...clientCertificateToRemember(trust.clientCertificate, settings, brokerUrl) };
  const signIn = await fetchSignInConfig(brokerUrl, trust);
  const transport = transportFor(brokerUrl, signIn, trust.extraCa);
  if (options.servicePrincipal === true) {
    const workload = workloadFromFlags(Object.fromEntries(WORKLOAD_FLAGS.map((name) => [name, stringOption(options, name)])), ctx.env, signIn, process.cwd());
    const session = new WorkloadSession(workload, signIn, transport, { env: ctx.env, now: ctx.now(), customAuthority: servesOwnTenant(brokerUrl, signIn) });
    // A token now, and the broker's view of it: a wrong credential or an app the broker does not accept fails here, not later.
    const me = await new BrokerClient(brokerUrl, trust.transport(), () => session.accessToken(), trust).get<WhoAmIResponse>('/v1/whoami');
    await writeSettings(ctx.home, { broker: brokerUrl, signIn, ...remembered, workload });
    const who = ctx.out.forPeople(me);
    ctx.out.line(`${ctx.out.green('✔')} Signed in as workload ${ctx.out.bold(who.name ?? workload.clientId)} (app ${workload.clientId}) on ${brokerUrl}`);
    ctx.out.line(`  Credential: ${describeRef(workload)} — read again by every command; no secret or token is written`);
    return;
  }
  const debug = debugLogger(ctx);
  const session = await Session.open({ home: ctx.home, env: ctx.env, brokerUrl, signIn, transport, trust, ...(debug ? { debug } : {}) });
  ctx.out.notice(session.storeNotice);

  const method = chooseSignInMethod(flags, signIn);
  const terminal = { env: ctx.env, notice: (line: string) => ctx.out.notice(line), interactive: Boolean(process.stderr.isTTY), platform: process.platform };
  const account = await signInAtTerminal(terminal, session, { method });
  await writeSettings(ctx.home, { broker: brokerUrl, signIn, ...remembered });

  const client = new BrokerClient(brokerUrl, trust.transport(), () => session.accessToken(), trust);
  const me = await client.get<WhoAmIResponse>('/v1/whoami');
  const who = me.name ? `${me.name} <${me.upn ?? account.username}>` : (me.upn ?? account.username);
  ctx.out.line(`${ctx.out.green('✔')} Signed in as ${ctx.out.bold(who)} on ${brokerUrl}`);
  ctx.out.line(
    `  ${me.groups.length} group${me.groups.length === 1 ? '' : 's'} seen by the broker — \`access whoami\` shows them, \`access resources\` what you can request`,
  );
};

function describeRef(workload: WorkloadSettings): string {
  const { credential } = workload;
  switch (credential.kind) {
    case 'certificate':
      return `certificate ${credential.file}`;
    case 'secret':
      return `client secret from $${credential.env}`;
    case 'federated':
      return `federated token file ${credential.tokenFile}`;
  }
}
