// A person signing in at the terminal: the device code message, or the browser opened at the
// sign-in page with its URL printed (the way when no browser can be opened). `access login` uses
// it, and so can a command that must sign in again with the claims a broker asked for (step-up).
// Everything the tenant or broker wrote (the device code message, the page URL) is printed through
// safeText.

import { safeText } from '../../shared/safe-text.js';
import { DEFAULT_SIGN_IN_METHOD, type BrokerConfigResponse, type SignInMethod } from '../../shared/wire.js';
import { AccessError } from '../../shared/errors.js';
import type { AccountInfo } from '@azure/msal-node';
import { browserPlan, startBrowser } from './browser.js';
import type { Session } from './session.js';

export interface SignInFlags {
  browser: boolean;
  deviceCode: boolean;
}

/** Refuses flags that contradict each other, before anything is asked of the broker. */
export function checkSignInFlags(flags: SignInFlags): void {
  if (flags.browser && flags.deviceCode)
    throw new AccessError('usage', '--browser and --device-code contradict each other — give one (or neither, for the tenant’s preferred sign-in)');
}

/** What `access login` was told: `--browser`, `--device-code`, or neither (the tenant's preference). */
export function chooseSignInMethod(flags: SignInFlags, signIn: BrokerConfigResponse): SignInMethod {
  checkSignInFlags(flags);
  if (flags.browser) return 'browser';
  if (flags.deviceCode) return 'device-code';
  return signIn.signIn ?? DEFAULT_SIGN_IN_METHOD;
}

/** Where a sign-in talks to the person: notices on stderr, whether stderr is a terminal, the environment. */
export interface SignInTerminal {
  env: NodeJS.ProcessEnv;
  notice: (line: string) => void;
  interactive: boolean;
  platform: NodeJS.Platform;
}

/** Signs the person in with `method` (and `claims`, when a broker asked for them), telling them what to do. */
export function signInAtTerminal(terminal: SignInTerminal, session: Session, request: { method: SignInMethod; claims?: string }): Promise<AccountInfo> {
  return session.signInInteractively({
    method: request.method,
    ...(request.claims ? { claims: request.claims } : {}),
    onDeviceCode: (message) => terminal.notice(safeText(message, { multiline: true })),
    openBrowser: (url) => showSignInPage(terminal, url),
  });
}

async function showSignInPage(terminal: SignInTerminal, url: string): Promise<void> {
  const shown = safeText(url);
  const plan = browserPlan(url, { env: terminal.env, platform: terminal.platform, interactive: terminal.interactive });
  if (plan.kind === 'print') {
    terminal.notice(`To sign in, open this page in a browser on this machine (none was opened: ${plan.reason}):\n\n  ${shown}\n`);
    return;
  }
  terminal.notice(`Opening your browser to sign in. If it does not open, open this page in a browser on this machine:\n\n  ${shown}\n`);
  const failed = await startBrowser(plan);
  if (failed) terminal.notice(`Could not start the browser (${safeText(failed)}); open the page above yourself.`);
}
