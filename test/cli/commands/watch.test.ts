import { describe, expect, it, vi } from 'vitest';
import { approvedView, carol, harness, makeApproval, makeView } from './fakes.js';

function scripted(h: ReturnType<typeof harness>): void {
  h.events.push(
    { type: 'hello', oid: 'oid-alice', upn: 'alice@contoso.com' },
    { type: 'request', change: 'created', request: makeView({ id: 'theirs1', requester: carol }) },
    { type: 'request', change: 'approved', request: approvedView() },
    { type: 'expiring', request: approvedView(), inMs: 300_000 },
  );
}

describe('access watch', () => {
  it('prints one line per event that concerns me, with the time, until Ctrl-C (exit 0)', async () => {
    const h = harness();
    scripted(h);
    const exit = h.run('watch');
    await vi.waitFor(() => expect(h.stdout().split('\n')).toHaveLength(4));
    h.interrupt();
    expect(await exit).toBe(0);
    const lines = h.stdout().trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d {2}New request theirs1 carol@contoso\.com → prod-db for 1h — "INC-4211: stuck migration" · access approve theirs1/,
    );
    expect(lines[1]).toMatch(
      /^\d\d:\d\d:\d\d {2}Your request r7f3c0a1b2 for prod-db: ✔ Approved by bob@contoso\.com — access until (?:tomorrow )?\d\d:\d\d \(59m\)$/,
    );
    expect(lines[2]).toMatch(/^\d\d:\d\d:\d\d {2}Ending your access to prod-db \(r7f3c0a1b2\) ends at (?:tomorrow )?\d\d:\d\d \(in 5m\)/);
    expect(h.stderr()).toContain('Watching as alice@contoso.com');
    expect(h.events.closed).toBe(true);
  });

  it('prints the exact `access extend` command in the expiring warning when the policy allows more time', async () => {
    const h = harness();
    h.events.push(
      { type: 'hello', oid: 'oid-alice', upn: 'alice@contoso.com' },
      // 1h granted, 25m left under maxTotal: the suggestion is capped at what the policy still allows.
      { type: 'expiring', request: approvedView({ extendableMs: 25 * 60_000 }), inMs: 300_000 },
      { type: 'expiring', request: approvedView({ extendableMs: 3 * 3_600_000 }), inMs: 300_000 },
      // No more room: a new request is the way.
      { type: 'expiring', request: approvedView({ extendableMs: 0 }), inMs: 300_000 },
    );
    const exit = h.run('watch');
    await vi.waitFor(() => expect(h.stdout().split('\n')).toHaveLength(4));
    h.interrupt();
    await exit;
    const lines = h.stdout().trimEnd().split('\n');
    expect(lines[0]).toContain('— `access extend r7f3c0a1b2 --for 25m` for more time');
    expect(lines[1]).toContain('— `access extend r7f3c0a1b2 --for 1h` for more time');
    expect(lines[2]).toContain('— `access request prod-db` for more time');
  });

  it('shows an extension request to approvers as such, and its outcome to the requester', async () => {
    const h = harness();
    const pending = {
      seq: 1,
      durationMs: 30 * 60_000,
      reason: 'migration still running',
      requestedAt: '2025-03-04T11:59:00.000Z',
      state: 'pending' as const,
      approvalsRequired: 1,
      approvals: 0,
      reviews: [],
      decidedAt: null,
      previousExpiresAt: '2025-03-04T12:59:59.000Z',
    };
    h.events.push(
      { type: 'hello', oid: 'oid-alice', upn: 'alice@contoso.com' },
      { type: 'request', change: 'extension_requested', request: approvedView({ id: 'theirs2', requester: carol, extensions: [pending] }) },
      {
        type: 'request',
        change: 'extension_denied',
        request: approvedView({
          extensions: [
            {
              ...pending,
              state: 'denied',
              decidedAt: '2025-03-04T12:00:00.000Z',
              reviews: [{ reviewer: carol, decision: 'deny', comment: 'hand over', at: '2025-03-04T12:00:00.000Z' }],
            },
          ],
        }),
      },
    );
    const exit = h.run('watch');
    await vi.waitFor(() => expect(h.stdout().split('\n')).toHaveLength(3));
    h.interrupt();
    await exit;
    const lines = h.stdout().trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /Extension request theirs2 carol@contoso\.com → prod-db \+30m \(access until .*\) — "migration still running" · access approve theirs2/,
    );
    expect(lines[1]).toContain('Your grant r7f3c0a1b2 for prod-db: ✖ Extension of r7f3c0a1b2 denied by carol@contoso.com: hand over — the grant is unchanged');
  });

  it('prints one JSON object per line with --json', async () => {
    const h = harness();
    scripted(h);
    const exit = h.run('watch', '--json');
    await vi.waitFor(() => expect(h.stdout().split('\n')).toHaveLength(4));
    h.interrupt();
    await exit;
    const objects = h
      .stdout()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; receivedAt: string });
    expect(objects.map((o) => o.type)).toEqual(['request', 'request', 'expiring']);
    expect(objects[0]?.receivedAt).toBe('2025-03-04T12:00:00.000Z');
  });

  it('says when it lost and regained the broker, on stderr', async () => {
    const h = harness();
    h.events.push(
      { type: 'hello', oid: 'oid-alice', upn: null },
      { type: 'disconnected', reason: 'closed by the broker (code 1006)', retryInMs: 1000 },
      { type: 'hello', oid: 'oid-alice', upn: null },
      { type: 'reconnected' },
    );
    const exit = h.run('watch');
    await vi.waitFor(() => expect(h.stderr()).toContain('reconnected'));
    h.interrupt();
    await exit;
    expect(h.stderr()).toContain('lost the broker (closed by the broker (code 1006)) — reconnecting in 1s');
    expect(h.stdout()).toBe('');
  });

  it('after a reconnect (perhaps to another broker) shows what was decided while the stream was down', async () => {
    let reconnected = false;
    const mine = makeView({ id: 'rmine' });
    const denied = makeView({
      id: 'rmine',
      state: 'denied',
      reviews: [{ reviewer: { oid: 'oid-bob', upn: 'bob@contoso.com' }, decision: 'deny', comment: 'not now', at: new Date().toISOString() }],
      closedAt: new Date().toISOString(),
      closedBy: { oid: 'oid-bob', upn: 'bob@contoso.com' },
      closeReason: 'not now',
    });
    const h = harness({
      routes: {
        'GET /v1/requests?state=pending%2Capproved&limit=100': () => ({ requests: reconnected ? [] : [mine], next: null }),
        'GET /v1/approvals?limit=100': () => ({ approvals: reconnected ? [makeApproval({ id: 'rtheirs' })] : [], next: null }),
        'GET /v1/requests/rmine': () => denied,
      },
    });
    h.events.push(
      { type: 'hello', oid: 'oid-alice', upn: null },
      { type: 'disconnected', reason: 'the connection was lost (close code 1006)', retryInMs: 1000 },
    );
    const exit = h.run('watch');
    await vi.waitFor(() => expect(h.stderr()).toContain('lost the broker'));
    reconnected = true;
    h.events.push({ type: 'hello', oid: 'oid-alice', upn: null }, { type: 'reconnected' });
    await vi.waitFor(() => expect(h.stdout().trimEnd().split('\n')).toHaveLength(2));
    h.interrupt();
    expect(await exit).toBe(0);
    const lines = h.stdout().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d {2}while disconnected: Your request rmine for prod-db: .*[Dd]enied by bob@contoso\.com/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d {2}while disconnected: New request rtheirs carol@contoso\.com → prod-db/);
    expect(h.stderr()).toContain('reconnected — 2 change(s) while disconnected');
  });

  it('reports nothing missed when nothing changed during the gap', async () => {
    const h = harness({
      routes: {
        'GET /v1/requests?state=pending%2Capproved&limit=100': () => ({ requests: [makeView({ id: 'rmine' })], next: null }),
        'GET /v1/approvals?limit=100': () => ({ approvals: [makeApproval({ id: 'rtheirs' })], next: null }),
      },
    });
    h.events.push(
      { type: 'hello', oid: 'oid-alice', upn: null },
      { type: 'disconnected', reason: 'the connection was lost (close code 1006)', retryInMs: 1000 },
      { type: 'hello', oid: 'oid-alice', upn: null },
      { type: 'reconnected' },
    );
    const exit = h.run('watch');
    await vi.waitFor(() => expect(h.stderr()).toContain('reconnected — nothing changed while disconnected'));
    h.interrupt();
    await exit;
    expect(h.stdout()).toBe('');
  });
});
