import { describe, expect, it, vi } from 'vitest';
import { AccessError } from '../../../shared/errors.js';
import type { RequestView } from '../../../shared/wire.js';
import { approvedView, harness, makeView, NOW, scriptedPrompts, type Call } from './fakes.js';

const pending = makeView();
const bob = { oid: 'oid-bob', upn: 'bob@contoso.com' };

/** A broker whose POST /v1/requests answers `created` and then pushes `then` on the events stream. */
function brokerThatDecides(h: () => ReturnType<typeof harness>, created: RequestView, then: RequestView[] = []) {
  return {
    'POST /v1/requests': () => {
      for (const view of then) h().events.push({ type: 'request', change: view.state, request: view });
      return created;
    },
  };
}

function setup(then: RequestView[], created: RequestView = pending): ReturnType<typeof harness> {
  let h!: ReturnType<typeof harness>;
  h = harness({ routes: brokerThatDecides(() => h, created, then) });
  h.events.push({ type: 'hello', oid: 'oid-alice', upn: 'alice@contoso.com' });
  return h;
}

describe('access request', () => {
  it('opens the events stream before it creates the request', async () => {
    const h = setup([approvedView()]);
    await h.run('request', 'prod-db', '--for', '1h', '--reason', 'INC-4211: stuck migration');
    expect(h.log).toEqual(['connect', 'events', 'POST /v1/requests']);
    expect(h.client.calls[0]?.body).toEqual({ resource: 'prod-db', duration: '1h', reason: 'INC-4211: stuck migration' });
  });

  it('waits and exits 0 with "access until" when an approval is pushed', async () => {
    const h = setup([approvedView()]);
    expect(await h.run('request', 'prod-db')).toBe(0);
    const lines = h.stdout().split('\n');
    expect(lines[0]).toBe('Request r7f3c0a1b2 PENDING — waiting for 1 approval from sg-dba (Ctrl-C leaves it pending)');
    // Approved a second ago for 1h: the clock reads 59 whole minutes left.
    expect(lines[1]).toMatch(/^✔ Approved by bob@contoso\.com — access until (?:tomorrow )?\d\d:\d\d \(59m\)$/);
    expect(h.events.closed).toBe(true);
  });

  it('ignores events about other requests while waiting', async () => {
    const other = approvedView({ id: 'someoneelse' });
    const h = setup([other, approvedView()]);
    expect(await h.run('request', 'prod-db')).toBe(0);
    expect(h.stdout()).not.toContain('someoneelse');
  });

  it('shows each partial approval while it keeps waiting', async () => {
    const two = { approvalsRequired: 2 };
    const half = makeView({ ...two, approvals: 1, reviews: [{ reviewer: bob, decision: 'approve', comment: null, at: new Date(NOW).toISOString() }] });
    const h = setup([half, approvedView({ ...two, approvals: 2 })], makeView(two));
    expect(await h.run('request', 'prod-db')).toBe(0);
    expect(h.stdout()).toContain('waiting for 2 approvals from sg-dba');
    expect(h.stdout()).toContain('  approved by bob@contoso.com (1 of 2) — still waiting for 1 approval from sg-dba');
  });

  it('says "approved by policy" and does not wait when the request is auto-approved', async () => {
    const h = setup([], approvedView({ reviews: [], autoApproved: true }));
    expect(await h.run('request', 'prod-db')).toBe(0);
    expect(h.stdout()).not.toContain('PENDING');
    expect(h.stdout()).toMatch(/^✔ Approved by policy .* — access until (?:tomorrow )?\d\d:\d\d \(59m\)\n$/);
  });

  it('exits 3 with the reason when the request is denied', async () => {
    const denied = makeView({
      state: 'denied',
      reviews: [{ reviewer: bob, decision: 'deny', comment: 'not during the change freeze', at: new Date(NOW).toISOString() }],
      closedBy: bob,
      closeReason: 'not during the change freeze',
      closedAt: new Date(NOW).toISOString(),
    });
    const h = setup([denied]);
    expect(await h.run('request', 'prod-db')).toBe(3);
    expect(h.stdout()).toContain('✖ Denied by bob@contoso.com: not during the change freeze');
  });

  it('exits 5 when the request times out unanswered', async () => {
    const h = setup([makeView({ state: 'timed_out', closedAt: new Date(NOW).toISOString() })]);
    expect(await h.run('request', 'prod-db')).toBe(5);
    expect(h.stdout()).toMatch(/✖ Request r7f3c0a1b2 timed out at (?:tomorrow )?\d\d:\d\d with 0 of 1 approvals — nobody from sg-dba decided in time/);
  });

  it('exits 1 when the request is cancelled elsewhere', async () => {
    const alice = { oid: 'oid-alice', upn: 'alice@contoso.com' };
    const h = setup([makeView({ state: 'cancelled', closedBy: alice, closedAt: new Date(NOW).toISOString() })]);
    expect(await h.run('request', 'prod-db')).toBe(1);
    expect(h.stdout()).toContain('was cancelled by alice@contoso.com');
  });

  it('prints only the final request as JSON on stdout with --json', async () => {
    const h = setup([approvedView()]);
    expect(await h.run('request', 'prod-db', '--json')).toBe(0);
    expect(JSON.parse(h.stdout())).toEqual(approvedView());
    expect(h.stderr()).toContain('PENDING');
  });

  it('with --no-wait prints the id and state without opening the events stream', async () => {
    const h = setup([]);
    expect(await h.run('request', 'prod-db', '--no-wait')).toBe(0);
    expect(h.log).toEqual(['connect', 'POST /v1/requests']);
    expect(h.stdout()).toMatch(/^Request r7f3c0a1b2 PENDING — needs 1 approval from sg-dba/);
  });

  it('leaves the request pending and exits 130 on Ctrl-C', async () => {
    const h = setup([]);
    const exit = h.run('request', 'prod-db');
    await vi.waitFor(() => expect(h.stdout()).toContain('PENDING'));
    h.interrupt();
    expect(await exit).toBe(130);
    expect(h.stdout()).toContain('Still pending: access requests (or access cancel r7f3c0a1b2)');
    expect(h.client.calls.map((c) => c.path)).toEqual(['/v1/requests']);
    expect(h.events.closed).toBe(true);
  });

  it('catches up with one GET after the events stream reconnects', async () => {
    let h!: ReturnType<typeof harness>;
    h = harness({
      routes: {
        'POST /v1/requests': () => {
          h.events.push(
            { type: 'disconnected', reason: 'closed by the broker (code 1006)', retryInMs: 500 },
            { type: 'hello', oid: 'oid-alice', upn: 'alice@contoso.com' },
            { type: 'reconnected' },
          );
          return pending;
        },
        // The approval happened while the socket was down: only the GET can tell.
        'GET /v1/requests/r7f3c0a1b2': () => approvedView(),
      },
    });
    expect(await h.run('request', 'prod-db')).toBe(0);
    expect(h.log).toEqual(['connect', 'events', 'POST /v1/requests', 'GET /v1/requests/r7f3c0a1b2']);
    expect(h.stdout()).toContain('✔ Approved by bob@contoso.com');
  });

  it('refuses a malformed --for before calling the broker (usage, exit 2)', async () => {
    const h = setup([]);
    expect(await h.run('request', 'prod-db', '--for', '90x')).toBe(2);
    expect(h.stderr()).toContain('--for "90x" is not a duration');
    expect(h.log).toEqual([]);
  });

  it("prints the broker's reason_required refusal without a terminal (exit 2)", async () => {
    const h = harness({
      routes: {
        'POST /v1/requests': () => {
          throw new AccessError('reason_required', 'prod-db requires a reason — pass --reason TEXT');
        },
      },
    });
    expect(await h.run('request', 'prod-db')).toBe(2);
    expect(h.stderr()).toContain('error: prod-db requires a reason — pass --reason TEXT');
    expect(h.events.closed).toBe(true);
  });

  it('asks for a missing reason on a terminal and sends it', async () => {
    const prompts = scriptedPrompts(['INC-9: disk full']);
    const bodies: unknown[] = [];
    let h!: ReturnType<typeof harness>;
    h = harness({
      prompts,
      routes: {
        'POST /v1/requests': (call: Call) => {
          bodies.push(call.body);
          if (!(call.body as { reason?: string }).reason) throw new AccessError('reason_required', 'prod-db requires a reason');
          h.events.push({ type: 'request', change: 'approved', request: approvedView() });
          return pending;
        },
      },
    });
    expect(await h.run('request', 'prod-db')).toBe(0);
    expect(prompts.asked).toEqual(['Reason for accessing prod-db:']);
    expect(bodies).toEqual([{ resource: 'prod-db' }, { resource: 'prod-db', reason: 'INC-9: disk full' }]);
  });
});
