// `access login [--broker URL] [--ca FILE] [--browser | --device-code]`: Entra ID sign-in, by
// device code or through the browser (authorization code + PKCE, loopback redirect); without a flag
// the tenant's preferred sign-in from /v1/config (device code unless the broker names `browser`).
// The sign-in instructions go to stderr; the result (who you are) to stdout. The broker URL and the
// private CA that issued its certificate (if any) are remembered for the following commands.

import type { WhoAmIResponse } from '../../shared/wire.js';
import { Session, transportFor } from '../auth/session.js';
import { chooseSignInMethod, signInAtTerminal } from '../auth/sign-in.js';
import { BrokerClient } from '../broker-client.js';
import { fetchSignInConfig } from '../broker-connection.js';
import { caFileToRemember, resolveBrokerTrust } from '../broker-trust.js';
import { debugLogger } from '../context.js';
import { readSettings, resolveBrokerUrl, writeSettings } from '../settings.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options) => {
  const settings = await readSettings(ctx.home);
  const brokerUrl = resolveBrokerUrl(stringOption(options, 'broker'), ctx.env, settings);
  const trust = await resolveBrokerTrust({ caFlag: stringOption(options, 'ca'), env: ctx.env, settings, brokerUrl });
  const signIn = await fetchSignInConfig(brokerUrl, trust);
  const transport = transportFor(brokerUrl, signIn, trust.extraCa);
  const debug = debugLogger(ctx);
  const session = await Session.open({ home: ctx.home, env: ctx.env, brokerUrl, signIn, transport, trust, ...(debug ? { debug } : {}) });
  ctx.out.notice(session.storeNotice);

  const method = chooseSignInMethod({ browser: options.browser === true, deviceCode: options.deviceCode === true }, signIn);
  const terminal = { env: ctx.env, notice: (line: string) => ctx.out.notice(line), interactive: Boolean(process.stderr.isTTY), platform: process.platform };
  const account = await signInAtTerminal(terminal, session, { method });
  const caFile = caFileToRemember(trust, settings, brokerUrl);
  await writeSettings(ctx.home, { broker: brokerUrl, signIn, ...(caFile ? { caFile } : {}) });

  const client = new BrokerClient(brokerUrl, trust.transport(), () => session.accessToken(), trust);
  const me = await client.get<WhoAmIResponse>('/v1/whoami');
  const who = me.name ? `${me.name} <${me.upn ?? account.username}>` : (me.upn ?? account.username);
  ctx.out.line(`${ctx.out.green('✔')} Signed in as ${ctx.out.bold(who)} on ${brokerUrl}`);
  ctx.out.line(
    `  ${me.groups.length} group${me.groups.length === 1 ? '' : 's'} seen by the broker — \`access whoami\` shows them, \`access resources\` what you can request`,
  );
};
