// `access login [--broker URL]`: Entra ID device code sign-in. The sign-in instructions go to
// stderr; the result (who you are) to stdout.

import type { WhoAmIResponse } from '../../shared/wire.js';
import { Session, transportFor } from '../auth/session.js';
import { BrokerClient } from '../broker-client.js';
import { debugLogger, fetchSignInConfig } from '../broker-connection.js';
import { readSettings, resolveBrokerUrl, writeSettings } from '../settings.js';
import { brokerOption, stringOption, type CommandSpec } from './command.js';

export const loginCommand: CommandSpec = {
  name: 'login',
  summary: 'sign in with Microsoft Entra ID (device code) and remember the broker',
  options: [brokerOption],
  async run(ctx, options) {
    const settings = await readSettings(ctx.home);
    const brokerUrl = resolveBrokerUrl(stringOption(options, 'broker'), ctx.env, settings);
    const signIn = await fetchSignInConfig(brokerUrl);
    const transport = transportFor(brokerUrl, signIn);
    const debug = debugLogger(ctx);
    const session = await Session.open({ home: ctx.home, env: ctx.env, signIn, transport, ...(debug ? { debug } : {}) });
    ctx.out.notice(session.storeNotice);

    const account = await session.signInWithDeviceCode((message) => ctx.out.notice(message));
    await writeSettings(ctx.home, { broker: brokerUrl, signIn });

    const client = new BrokerClient(brokerUrl, transport, () => session.accessToken());
    const me = await client.get<WhoAmIResponse>('/v1/whoami');
    const who = me.name ? `${me.name} <${me.upn ?? account.username}>` : (me.upn ?? account.username);
    ctx.out.line(`${ctx.out.green('✔')} Signed in as ${ctx.out.bold(who)} on ${brokerUrl}`);
    ctx.out.line(`  ${me.groups.length} group${me.groups.length === 1 ? '' : 's'} seen by the broker — \`access whoami\` shows them, \`access resources\` what you can request`);
  },
};
