// `access-broker dev` serves a sign-in page with no password: whoever reaches it may be any dev
// user, admins and auditors included. On loopback that is the point (only this machine's users
// reach it); on any other address it hands the broker to the network. So `dev` refuses a
// non-loopback --host unless told, with a flag nobody passes by accident, and then says so on
// every start.

import { AccessError } from '../shared/errors.js';
import { isLoopbackHost } from '../shared/http-transport.js';

/** The flag that lets `access-broker dev` listen beyond loopback. */
export const UNSAFE_EXPOSE_FLAG = '--unsafe-expose-dev-tenant';

/**
 * Null for a loopback `host`; for any other, the warning to print on start when `unsafeExpose` is
 * set, and otherwise a usage error (exit 2) that names the flag.
 */
export function devExposureWarning(host: string, unsafeExpose: boolean): string | null {
  if (isLoopbackHost(host)) return null;
  if (!unsafeExpose) {
    throw new AccessError(
      'usage',
      `access-broker dev will not listen on "${host}": its sign-in page has no password, so anyone who can reach ${host} could sign in as any dev user, ` +
        `admins and auditors included. Use --host 127.0.0.1 (the default), or pass ${UNSAFE_EXPOSE_FLAG} if exposing it is really what you want.`,
    );
  }
  return `${UNSAFE_EXPOSE_FLAG}: the password-less dev sign-in page is reachable on ${host} — anyone who can reach it can act as any dev user, admins and auditors included. Never do this on a network you do not control.`;
}
