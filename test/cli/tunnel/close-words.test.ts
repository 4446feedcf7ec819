import { describe, expect, it } from 'vitest';
import { closeWords, grantEndingExit, tunnelExit } from '../../../cli/tunnel/close-words.js';
import { clockTime } from '../../../cli/request-format.js';

const NOW = Date.UTC(2025, 2, 4, 12, 0, 0);
const expiresAt = new Date(NOW + 3_600_000).toISOString();
const db = { name: 'demo-db', kind: 'postgres', expiresAt };

describe('closeWords', () => {
  it.each([
    [4111, 'revoked by bob@contoso.dev: INC-4211 is done', 'revoked by bob@contoso.dev: INC-4211 is done'],
    [4111, '', 'access was revoked'],
    [4112, 'membership lost', 'you are no longer in a group allowed to use demo-db'],
    [4113, 'idle', 'idle too long'],
    [4100, 'target closed', 'the database closed the connection'],
    [4101, 'ECONNRESET', 'the connection to the database failed: ECONNRESET'],
    [4114, 'unknown message type 0x16', 'the broker ended the session: it could not record what the client sent (unknown message type 0x16)'],
    [4114, '', 'the broker ended the session: it could not record what the client sent'],
    [
      4115,
      'your group membership could not be confirmed for 2m (the directory is unavailable)',
      'your group membership could not be confirmed for 2m (the directory is unavailable)',
    ],
    [4115, '', 'your group membership could not be confirmed (the directory is unavailable)'],
    [4116, 'the time window of demo-db (Mon-Fri 07:00-19:00 Europe/Berlin) closed', 'the time window of demo-db (Mon-Fri 07:00-19:00 Europe/Berlin) closed'],
    [4116, '', "the resource's time window closed"],
    [4117, 'demo-db requires a sign-in within the last 8h', 'demo-db requires a sign-in within the last 8h'],
    [1001, '', 'the broker is shutting down'],
    [1006, '', 'the broker holding the tunnel went away (the connection to it was lost), so the connection was closed'],
    [4999, 'something new', 'something new (close code 4999)'],
  ])('reads close %i "%s" as "%s"', (code, reason, words) => {
    expect(closeWords({ code, reason }, db, NOW)).toBe(words);
  });

  it("reads the broker's expiry time on the local clock", () => {
    const at = NOW + 1_800_000;
    expect(closeWords({ code: 4110, reason: `access expired at ${new Date(at).toISOString()}` }, db, NOW)).toBe(`access expired at ${clockTime(at, NOW)}`);
  });

  it("falls back to the grant's end when the expiry reason carries no time", () => {
    expect(closeWords({ code: 4110, reason: '' }, db, NOW)).toBe(`access expired at ${clockTime(Date.parse(expiresAt), NOW)}`);
  });

  it('names what sits behind the tunnel by kind', () => {
    expect(closeWords({ code: 4100, reason: '' }, { ...db, kind: 'ssh' }, NOW)).toBe('the host closed the connection');
    expect(closeWords({ code: 4100, reason: '' }, { ...db, kind: 'tcp' }, NOW)).toBe('the target closed the connection');
  });
});

describe('exit codes', () => {
  it('ends the command 0 at expiry and 3 on revoke or lost membership', () => {
    expect(grantEndingExit({ code: 4110, reason: '' })).toBe(0);
    expect(grantEndingExit({ code: 4111, reason: '' })).toBe(3);
    expect(grantEndingExit({ code: 4112, reason: '' })).toBe(3);
    // A resource's conditions end every tunnel of the grant alike: the window closed, the sign-in grew too old.
    expect(grantEndingExit({ code: 4116, reason: '' })).toBe(3);
    expect(grantEndingExit({ code: 4117, reason: '' })).toBe(3);
    expect(grantEndingExit({ code: 4100, reason: '' })).toBeNull();
  });

  it('ends a single tunnel 0 when either side closed it normally and 1 when it was cut', () => {
    expect(tunnelExit({ code: 1000, reason: '' })).toBe(0);
    expect(tunnelExit({ code: 4100, reason: '' })).toBe(0);
    expect(tunnelExit({ code: 4101, reason: '' })).toBe(1);
    expect(tunnelExit({ code: 1006, reason: '' })).toBe(1);
    expect(tunnelExit({ code: 4111, reason: '' })).toBe(3);
  });
});
