// `access logout`: forget the tokens of this state dir (keychain entry or token file), or the
// workload it signs in as (`access login --service-principal`).

import { AccessError } from '../../shared/errors.js';
import { Session, transportFor } from '../auth/session.js';
import { readSettings, writeSettings } from '../settings.js';
import { chooseSecretStore } from '../auth/secret-store.js';
import type { CommandRun } from './command.js';

export const run: CommandRun = async (ctx) => {
  const settings = await readSettings(ctx.home);
  if (!settings.broker || !settings.signIn) {
    // Nothing remembered: still clear whatever store would hold tokens, then say so.
    const { store } = await chooseSecretStore(ctx.home, ctx.env);
    await store.clear();
    ctx.out.line('Not signed in.');
    return;
  }
  if (settings.workload) {
    // A workload keeps no tokens: signing out forgets which workload this state dir is.
    const { workload, ...person } = settings;
    await writeSettings(ctx.home, person);
    ctx.out.line(`Signed out workload ${workload.clientId}.`);
    return;
  }
  const session = await Session.open({
    home: ctx.home,
    env: ctx.env,
    brokerUrl: settings.broker,
    signIn: settings.signIn,
    transport: transportFor(settings.broker, settings.signIn),
  });
  let accounts;
  try {
    accounts = await session.signOut();
  } catch (error) {
    // A damaged token cache cannot be read, but it can always be removed: that is what logout is for.
    if (!(error instanceof AccessError) || error.code !== 'secret_store_failed') throw error;
    await session.store.clear();
    ctx.out.line(`Removed the unreadable token cache (${session.store.description}).`);
    return;
  }
  ctx.out.line(accounts.length ? `Signed out ${accounts.map((a) => a.username).join(', ')}.` : 'Not signed in.');
};
