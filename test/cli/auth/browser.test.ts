// Which command opens the browser for `access login --browser`, or why none is opened (then the
// printed URL is the way), and which sign-in `access login` uses.

import { describe, expect, it } from 'vitest';
import { browserPlan } from '../../../cli/auth/browser.js';
import { chooseSignInMethod } from '../../../cli/auth/sign-in.js';
import type { BrokerConfigResponse } from '../../../shared/wire.js';

const URL_ = 'http://127.0.0.1:4780/t/oauth2/v2.0/authorize?a=1&b=2';

describe('browserPlan', () => {
  it.each([
    {
      where: 'BROWSER names a command (split on spaces, URL last)',
      env: { BROWSER: '/opt/b --new-tab' },
      platform: 'linux',
      tty: false,
      plan: { kind: 'open', command: '/opt/b', args: ['--new-tab', URL_] },
    },
    {
      where: 'ACCESS_BROWSER wins over BROWSER',
      env: { ACCESS_BROWSER: 'mine', BROWSER: 'theirs' },
      platform: 'linux',
      tty: true,
      plan: { kind: 'open', command: 'mine', args: [URL_] },
    },
    { where: 'CI prints', env: { CI: 'true', DISPLAY: ':0' }, platform: 'linux', tty: true, plan: { kind: 'print', reason: expect.stringContaining('CI') } },
    {
      where: 'no terminal prints',
      env: { DISPLAY: ':0' },
      platform: 'linux',
      tty: false,
      plan: { kind: 'print', reason: expect.stringContaining('no terminal') },
    },
    { where: 'Linux without a display prints', env: {}, platform: 'linux', tty: true, plan: { kind: 'print', reason: expect.stringContaining('DISPLAY') } },
    { where: 'Linux with X opens xdg-open', env: { DISPLAY: ':0' }, platform: 'linux', tty: true, plan: { kind: 'open', command: 'xdg-open', args: [URL_] } },
    {
      where: 'Wayland opens xdg-open',
      env: { WAYLAND_DISPLAY: 'wayland-0' },
      platform: 'linux',
      tty: true,
      plan: { kind: 'open', command: 'xdg-open', args: [URL_] },
    },
    { where: 'macOS opens open', env: {}, platform: 'darwin', tty: true, plan: { kind: 'open', command: 'open', args: [URL_] } },
    {
      where: 'Windows opens without cmd (the & in the URL stays one argument)',
      env: {},
      platform: 'win32',
      tty: true,
      plan: { kind: 'open', command: 'rundll32', args: ['url.dll,FileProtocolHandler', URL_] },
    },
  ] as const)('$where', ({ env, platform, tty, plan }) => {
    expect(browserPlan(URL_, { env, platform, interactive: tty })).toEqual(plan);
  });
});

describe('chooseSignInMethod', () => {
  const config = (signIn?: 'browser' | 'device-code'): BrokerConfigResponse => ({
    tenantId: 't',
    authority: 'https://login.microsoftonline.com/t',
    clientId: 'c',
    scopes: [],
    brokerVersion: 'x',
    ...(signIn ? { signIn } : {}),
  });

  it('uses the tenant’s preference without a flag, device code when the broker names none', () => {
    expect(chooseSignInMethod({ browser: false, deviceCode: false }, config('browser'))).toBe('browser');
    expect(chooseSignInMethod({ browser: false, deviceCode: false }, config())).toBe('device-code');
  });

  it('lets --browser and --device-code override the preference', () => {
    expect(chooseSignInMethod({ browser: true, deviceCode: false }, config('device-code'))).toBe('browser');
    expect(chooseSignInMethod({ browser: false, deviceCode: true }, config('browser'))).toBe('device-code');
  });

  it('refuses both flags at once as a usage error', () => {
    expect(() => chooseSignInMethod({ browser: true, deviceCode: true }, config())).toThrow(expect.objectContaining({ code: 'usage' }));
  });
});
