import { describe, expect, it } from 'vitest';
import { bytes, describeEntry, endWords, entryLine, localZone, timestamp } from '../../../cli/audit/entry-words.js';
import type { AuditEntryView } from '../../../shared/wire.js';
import { NOW } from '../commands/fakes.js';
import { bob, entryView } from './views.js';

const LATER = new Date(NOW + 3_600_000).toISOString();

describe('describeEntry', () => {
  it.each<[string, Partial<AuditEntryView>, string]>([
    [
      'a request',
      { type: 'request.created', body: { durationMs: 5_400_000, reason: 'INC-7:\n"stuck"', ticket: 'INC-7' } },
      'asked for 1h 30m — "INC-7: "stuck"" (ticket INC-7)',
    ],
    ['a request without reason', { type: 'request.created', body: { durationMs: 60_000, reason: null, ticket: null } }, 'asked for 1m'],
    [
      'an approving review',
      { type: 'request.review_recorded', actor: bob, body: { decision: 'approve', comment: 'go', reviewer: 'bob@contoso.com' } },
      'approved — "go"',
    ],
    ['a denying review', { type: 'request.review_recorded', body: { decision: 'deny', comment: null } }, 'denied'],
    [
      'a grant',
      { type: 'request.approved', body: { expiresAt: LATER, approvers: ['bob@contoso.com'] } },
      `granted, access until ${timestamp(LATER)} (approved by bob@contoso.com)`,
    ],
    ['a grant by policy', { type: 'request.auto_approved', body: { expiresAt: LATER, approvers: [] } }, `approved by policy, access until ${timestamp(LATER)}`],
    ['a revoke', { type: 'request.revoked', body: { reason: 'incident closed' } }, 'revoked — "incident closed"'],
    ['a time-out', { type: 'request.timed_out', body: {} }, 'timed out: nobody decided in time'],
    [
      'a refusal',
      { type: 'policy.refused', body: { action: 'create', code: 'duration_too_long', message: '"9h" is longer than prod-db allows' } },
      'refused create (duration_too_long): "9h" is longer than prod-db allows',
    ],
    [
      "a resource condition's refusal, naming the condition",
      { type: 'policy.refused', body: { action: 'connect', code: 'mfa_required', condition: 'requireMfa', message: 'prod-db requires multi-factor sign-in' } },
      'refused connect (mfa_required, condition requireMfa): prod-db requires multi-factor sign-in',
    ],
    [
      'a tunnel opening',
      { type: 'session.opened', body: { requestId: 'r1', target: '10.0.0.5:5432', client: '127.0.0.1' } },
      'tunnel opened from 127.0.0.1 to 10.0.0.5:5432',
    ],
    [
      'a tunnel closing',
      {
        type: 'session.closed',
        body: { bytesUp: 812, bytesDown: 5_000_000, endReason: 'grantRevoked', detail: 'revoked by bob@contoso.com: done', queries: 1 },
      },
      'tunnel closed (grant revoked): ↑812 B ↓4.8 MiB, 1 query — revoked by bob@contoso.com: done',
    ],
    [
      'a query on one line',
      { type: 'pg.query', body: { sql: 'select *\n  from orders\n  where id = 1', protocol: 'simple' } },
      'select * from orders where id = 1',
    ],
    [
      'a postgres startup',
      { type: 'pg.startup' as AuditEntryView['type'], body: { dbUser: 'demo', database: 'demo', applicationName: 'psql', protocol: 196608 } },
      'postgres session for database demo as demo (psql)',
    ],
    [
      'COPY data',
      { type: 'pg.copy' as AuditEntryView['type'], body: { direction: 'in', messages: 3, bytes: 2048, outcome: 'completed' } },
      'COPY data sent: 3 messages, 2.0 KiB (completed); the data itself is not logged',
    ],
    [
      'a session ended at bytes it could not record',
      { type: 'pg.unrecordable' as AuditEntryView['type'], body: { reason: 'unknown message type 0x16', atByte: 56 } },
      'ended the session at byte 56, which it could not record: unknown message type 0x16 (none of it reached the database)',
    ],
    [
      'an unrecordable end',
      { type: 'session.closed', body: { bytesUp: 51, bytesDown: 0, endReason: 'unrecordable', detail: 'unknown message type 0x16' } },
      'tunnel closed (unrecordable): ↑51 B ↓0 B — unknown message type 0x16',
    ],
    ['a cut query', { type: 'pg.query', body: { sql: 'copy x from stdin', truncated: true, sqlChars: 90_000 } }, '(cut) copy x from stdin'],
    ['an http request', { type: 'http.request', body: { n: 1, method: 'GET', path: '/api/health?x=1' } }, 'GET /api/health?x=1'],
    ['a WebSocket upgrade', { type: 'http.request', body: { n: 2, method: 'GET', path: '/ws', upgrade: 'websocket' } }, 'GET /ws (upgrade to websocket)'],
    [
      'an http response',
      {
        type: 'http.response',
        body: { n: 1, method: 'POST', path: '/upload', status: 201, bytesUp: 4096, bytesDown: 12, durationMs: 31, outcome: 'complete' },
      },
      'POST /upload → 201: ↑4.0 KiB ↓12 B in 31 ms',
    ],
    [
      'an http exchange the revoke cut',
      {
        type: 'http.response',
        body: {
          n: 3,
          method: 'GET',
          path: '/stream',
          status: 200,
          bytesUp: 0,
          bytesDown: 90,
          durationMs: 900,
          outcome: 'connectionClosed',
          detail: 'the tunnel closed',
        },
      },
      'GET /stream → 200: ↑0 B ↓90 B in 900 ms — connection closed: the tunnel closed',
    ],
    ['a grpc call', { type: 'grpc.call', body: { n: 1, method: '/orders.Orders/Get' } }, 'call /orders.Orders/Get'],
    [
      'a grpc status',
      {
        type: 'grpc.status',
        body: { n: 1, method: '/orders.Orders/Get', grpcStatus: 5, grpcMessage: 'no such order', bytesUp: 9, bytesDown: 0, durationMs: 4, outcome: 'complete' },
      },
      'call /orders.Orders/Get → 5 NOT_FOUND "no such order": ↑9 B ↓0 B in 4 ms',
    ],
    [
      'a successful grpc call (no "OK" message echoed)',
      {
        type: 'grpc.status',
        body: { n: 2, method: '/o.O/List', grpcStatus: 0, grpcMessage: 'OK', bytesUp: 5, bytesDown: 70, durationMs: 2, outcome: 'complete' },
      },
      'call /o.O/List → 0 OK: ↑5 B ↓70 B in 2 ms',
    ],
    [
      'a MySQL prepared statement with its parameters beside it',
      {
        type: 'mysql.query',
        body: {
          sql: 'select * from t where id = ? and note = ?',
          protocol: 'prepared',
          statementId: 3,
          params: ['7', null, { text: 'ab', bytes: 4000, truncated: true }],
        },
      },
      'select * from t where id = ? and note = ? ["7", NULL, "ab"… (4000 bytes)]',
    ],
    ['a MySQL text statement', { type: 'mysql.query', body: { sql: 'select 1', protocol: 'text' } }, 'select 1'],
    [
      'a MySQL handshake',
      { type: 'mysql.handshake', body: { dbUser: 'app', database: 'shop', program: 'mysql', serverVersion: '10.11', connectionId: 42 } },
      'mysql session for database shop as app (mysql), server connection 42',
    ],
    ['a MySQL USE', { type: 'mysql.command', body: { command: 'initDb', database: 'archive' } }, 'changed the default database to archive (COM_INIT_DB)'],
    [
      'a MySQL kill at a cut',
      { type: 'mysql.killed', body: { connectionId: 42, dbUser: 'app', cut: 'grantRevoked' } },
      'killed the running statement of connection 42 when the tunnel was cut (grant revoked)',
    ],
  ])('tells %s in words', (_case, overrides, words) => {
    expect(describeEntry(entryView(1, overrides))).toBe(words);
  });

  it('shows the body of a kind it does not know (a newer broker) as JSON', () => {
    const entry = entryView(1, { type: 'future.kind' as AuditEntryView['type'], body: { a: 1 } });
    expect(describeEntry(entry)).toBe('{"a":1}');
  });

  it('cuts a long query to one line of SQL_LINE_CHARS', () => {
    const words = describeEntry(entryView(1, { type: 'pg.query', body: { sql: `select ${'x, '.repeat(500)}1` } }));
    expect(words).toHaveLength(200);
    expect(words.endsWith('…')).toBe(true);
  });
});

describe('the shared pieces', () => {
  it('writes byte counts in binary units', () => {
    expect([bytes(0), bytes(1023), bytes(1024), bytes(1536), bytes(3 * 1024 ** 3), bytes(null)]).toEqual([
      '0 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '3.0 GiB',
      '-',
    ]);
  });

  it('words end reasons', () => {
    expect([endWords('grantExpired'), endWords('broker_restart'), endWords('clientClosed'), endWords(null)]).toEqual([
      'grant expired',
      'broker restart',
      'client closed',
      'open',
    ]);
  });

  it('writes local timestamps to the millisecond and names the zone', () => {
    const at = new Date(2025, 2, 4, 9, 5, 7, 42);
    expect(timestamp(at.toISOString())).toBe('2025-03-04 09:05:07.042');
    expect(localZone(at.getTime())).toMatch(/^UTC[+-]\d\d:\d\d$/);
  });

  it('lines a feed up: seq, time, type padded to the widest type, who, resource, subject, words', () => {
    const entry = entryView(12, { type: 'session.opened', subject: 's9', body: { client: '127.0.0.1', target: 'db:5432' } });
    expect(entryLine(entry)).toBe(
      `#12  ${timestamp(entry.at)}  ${'session.opened'.padEnd('request.extension_review_recorded'.length)}  alice@contoso.com  prod-db  s9  tunnel opened from 127.0.0.1 to db:5432`,
    );
    expect(entryLine(entryView(3, { actor: null, resource: null, subject: null, type: 'request.expired', body: {} }))).toContain(
      '  broker  -  -  access ended (expired)',
    );
  });
});
