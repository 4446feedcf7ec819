// The periodic re-check of live tunnels also re-evaluates the resource's conditions: a tunnel they
// no longer admit is cut with their code and reason, without a directory read for it.

import { describe, expect, it } from 'vitest';
import { MembershipRecheck, type RecheckedTunnel } from '../../../broker/tunnel/membership-recheck.js';
import { CloseCode } from '../../../shared/close-codes.js';
import { FakeDirectory, recordingLog } from '../requests/harness.js';

function tunnel(oid: string, conditionCut: RecheckedTunnel['conditionCut']): RecheckedTunnel & { cuts: Array<[number, string]> } {
  const cuts: Array<[number, string]> = [];
  return { oid, resource: 'prod-db', requesters: ['sg-eng'], openedAt: 0, ending: false, cut: (code, reason) => cuts.push([code, reason]), conditionCut, cuts };
}

describe('MembershipRecheck and conditions', () => {
  it('cuts a tunnel whose conditions no longer hold with their code and reason, and reads no groups for it', async () => {
    const directory = new FakeDirectory();
    const recheck = new MembershipRecheck({ directory, log: recordingLog(), now: () => 1_000, graceMs: 60_000 });
    const closed = tunnel('alice', () => ({ code: CloseCode.outsideHours, reason: 'the time window of prod-db (Mon-Fri 07:00-19:00 UTC) closed' }));
    const open = tunnel('oscar', () => null);
    await recheck.run([closed, open]);
    expect(closed.cuts).toEqual([[CloseCode.outsideHours, 'the time window of prod-db (Mon-Fri 07:00-19:00 UTC) closed']]);
    expect(open.cuts).toEqual([]);
    // Only oscar's membership was read.
    expect(directory.freshReads).toBe(1);
  });
});
