// `access logout`: forget the tokens of this state dir (keychain entry or token file).

import { Session, transportFor } from '../auth/session.js';
import { readSettings } from '../settings.js';
import { chooseSecretStore } from '../auth/secret-store.js';
import type { CommandSpec } from './command.js';

export const logoutCommand: CommandSpec = {
  name: 'logout',
  summary: 'sign out: remove the cached tokens of this machine user ($ACCESS_HOME)',
  async run(ctx) {
    const settings = await readSettings(ctx.home);
    if (!settings.broker || !settings.signIn) {
      // Nothing remembered: still clear whatever store would hold tokens, then say so.
      const { store } = await chooseSecretStore(ctx.home, ctx.env);
      await store.clear();
      ctx.out.line('Not signed in.');
      return;
    }
    const session = await Session.open({
      home: ctx.home,
      env: ctx.env,
      signIn: settings.signIn,
      transport: transportFor(settings.broker, settings.signIn),
    });
    const accounts = await session.signOut();
    ctx.out.line(accounts.length ? `Signed out ${accounts.map((a) => a.username).join(', ')}.` : 'Not signed in.');
  },
};
