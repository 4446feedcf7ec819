// The pending device sign-ins: bounded in all and per client address, and an expired code stops
// counting the moment it expires, so a flood of unauthenticated /devicecode calls cannot keep a
// real `access login` out.

import { describe, expect, it } from 'vitest';
import {
  DEVICE_CODE_LIFETIME_SEC,
  DeviceCodes,
  MAX_PENDING_DEVICE_CODES,
  MAX_PENDING_DEVICE_CODES_PER_CLIENT,
  type StartResult,
} from '../../../broker/devtenant/device-codes.js';

function store(): { codes: DeviceCodes; clock: { now: number } } {
  const clock = { now: Date.parse('2025-06-01T12:00:00Z') };
  return { codes: new DeviceCodes(() => clock.now), clock };
}

function start(codes: DeviceCodes, from: string): StartResult {
  return codes.start('cli', ['user_impersonation'], from);
}

/** Starts from `clients` distinct addresses, `each` per address. */
function flood(codes: DeviceCodes, clients: number, each: number): void {
  for (let c = 0; c < clients; c++) for (let i = 0; i < each; i++) start(codes, `10.0.${Math.floor(c / 250)}.${c % 250}`);
}

describe('DeviceCodes bounds', () => {
  it(`refuses a client its ${MAX_PENDING_DEVICE_CODES_PER_CLIENT + 1}th pending sign-in, and still serves another client`, () => {
    const { codes } = store();
    for (let i = 0; i < MAX_PENDING_DEVICE_CODES_PER_CLIENT; i++) expect(start(codes, '10.0.0.66')).toHaveProperty('started');
    expect(start(codes, '10.0.0.66')).toEqual({ refused: 'client_full' });
    expect(start(codes, '127.0.0.1')).toHaveProperty('started');
  });

  it('lets a flood of a thousand calls from one address hold only its share', () => {
    const { codes } = store();
    for (let i = 0; i < 1000; i++) start(codes, '10.0.0.66');
    expect(codes.pending).toBe(MAX_PENDING_DEVICE_CODES_PER_CLIENT);
    expect(start(codes, '127.0.0.1')).toHaveProperty('started');
  });

  it(`refuses beyond ${MAX_PENDING_DEVICE_CODES} pending sign-ins in all`, () => {
    const { codes } = store();
    flood(codes, MAX_PENDING_DEVICE_CODES / MAX_PENDING_DEVICE_CODES_PER_CLIENT, MAX_PENDING_DEVICE_CODES_PER_CLIENT);
    expect(codes.pending).toBe(MAX_PENDING_DEVICE_CODES);
    expect(start(codes, '127.0.0.1')).toEqual({ refused: 'full' });
  });

  it('stops counting a code the moment it expires, while a late poll still hears "expired"', () => {
    const { codes, clock } = store();
    flood(codes, MAX_PENDING_DEVICE_CODES / MAX_PENDING_DEVICE_CODES_PER_CLIENT, MAX_PENDING_DEVICE_CODES_PER_CLIENT);
    const late = start(codes, '127.0.0.1');
    expect(late).toEqual({ refused: 'full' });
    const mine = store();
    const started = start(mine.codes, '127.0.0.1');
    mine.clock.now += DEVICE_CODE_LIFETIME_SEC * 1000;
    clock.now += DEVICE_CODE_LIFETIME_SEC * 1000;
    expect(codes.pending).toBe(0);
    expect(start(codes, '127.0.0.1')).toHaveProperty('started');
    expect(mine.codes.poll(('started' in started ? started.started : null)?.deviceCode ?? '', 'cli')).toEqual({ state: 'expired' });
  });

  it('gives a client its slot back when its sign-in is collected', () => {
    const { codes } = store();
    const started: StartResult[] = [];
    for (let i = 0; i < MAX_PENDING_DEVICE_CODES_PER_CLIENT; i++) started.push(start(codes, '127.0.0.1'));
    const first = started[0] as { started: { deviceCode: string; userCode: string } };
    expect(codes.approve(first.started.userCode, 'oid-alice')).toBe('approved');
    expect(codes.poll(first.started.deviceCode, 'cli')).toMatchObject({ state: 'approved' });
    expect(start(codes, '127.0.0.1')).toHaveProperty('started');
  });
});
