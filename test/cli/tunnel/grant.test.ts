import { afterEach, describe, expect, it, vi } from 'vitest';
import { atTime, liveGrant, noLiveGrant, requestCommandLine } from '../../../cli/tunnel/grant.js';
import { byteCount } from '../../../cli/tunnel/connection-log.js';
import type { ResourceSummary } from '../../../shared/wire.js';
import { approvedView, NOW } from '../commands/fakes.js';

const resource: ResourceSummary = {
  name: 'prod-db',
  kind: 'postgres',
  description: null,
  canRequest: true,
  canApprove: false,
  autoApproved: false,
  approvers: ['sg-dba'],
  approvals: 1,
  maxDurationMs: 14_400_000,
  defaultDurationMs: 5_400_000,
  reason: 'required',
  ticketPattern: '^INC-\\d+$',
  user: null,
  database: null,
  conditions: [],
};

describe('liveGrant', () => {
  it('picks the approved, unexpired grant on the resource that lasts longest', () => {
    const at = (ms: number): string => new Date(NOW + ms).toISOString();
    const short = approvedView({ id: 'short', expiresAt: at(60_000) });
    const long = approvedView({ id: 'long', expiresAt: at(600_000) });
    const ended = approvedView({ id: 'ended', expiresAt: at(-1) });
    const other = approvedView({ id: 'other', resource: 'other-db', expiresAt: at(900_000) });
    expect(liveGrant([short, ended, long, other], 'prod-db', NOW)?.id).toBe('long');
    expect(liveGrant([ended, other], 'prod-db', NOW)).toBeNull();
  });
});

describe('the request command suggested without a grant', () => {
  it("uses the resource's default duration and asks for a ticket when the policy has a pattern", () => {
    expect(requestCommandLine('prod-db', resource)).toBe('access request prod-db --for 1h30m --reason "…" --ticket ID');
    expect(requestCommandLine('prod-db', null)).toBe('access request prod-db --for 1h --reason "…"');
  });

  it('is an exit-3 error that also names access connect --request', () => {
    const error = noLiveGrant('prod-db', resource);
    expect(error.exitCode).toBe(3);
    expect(error.message).toMatch(/^You have no live grant for prod-db\. /);
    expect(error.message).toContain('access connect prod-db --request');
  });
});

describe('atTime', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires at once for a time already past, and not after being cancelled', () => {
    vi.useFakeTimers();
    let fired = 0;
    atTime(
      NOW - 1,
      () => NOW,
      () => (fired += 1),
    );
    expect(fired).toBe(1);
    const cancel = atTime(
      NOW + 20,
      () => NOW,
      () => (fired += 1),
    );
    cancel();
    vi.advanceTimersByTime(40);
    expect(fired).toBe(1);
  });
});

describe('byteCount', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1234, '1.2 kB'],
    [340_000, '340 kB'],
    [12_345_678, '12 MB'],
    [1_500_000_000, '1.5 GB'],
  ])('prints %i bytes as %s', (n, text) => {
    expect(byteCount(n)).toBe(text);
  });
});
