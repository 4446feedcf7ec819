// The MySQL query log of one tunnel, fed both directions of a hand-built conversation (split at
// every byte boundary too): what it records for the handshake, text and prepared statements with
// their parameters and COM_INIT_DB, and how it refuses a stream it cannot record.

import { describe, expect, it } from 'vitest';
import type { NewAuditEntry } from '../../../../broker/audit/entry.js';
import type { NewSession } from '../../../../broker/store/session-store.js';
import { Command } from '../../../../broker/tunnel/mysql/codes.js';
import { MysqlCapture } from '../../../../broker/tunnel/mysql/session-capture.js';
import { recordingLog, resource } from '../../requests/harness.js';
import { command, execute, greeting, handshake, OK, prepareOk, sslRequest } from './wire.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');
const SESSION: NewSession = {
  id: 'ses001',
  requestId: 'req001',
  user: { oid: 'alice', upn: 'alice@contoso.com' },
  resource: 'prod-mysql',
  clientAddress: '127.0.0.1',
  target: '127.0.0.1:3306',
  startedAt: T0,
};

type Step = ['up' | 'down', Buffer];

interface Run {
  capture: MysqlCapture;
  entries: NewAuditEntry[];
  /** What `up`/`beforeDown` answered for each step: null passes, a string refuses. */
  answers: Array<string | null>;
}

/** Feeds the steps, each split into chunks of `size` bytes (whole when 0); `unwritable`: the log keeps failing to write. */
function play(steps: Step[], size = 0, unwritable = false): Run {
  const entries: NewAuditEntry[] = [];
  const capture = new MysqlCapture(SESSION, resource('prod-mysql', { kind: 'mysql' }), {
    sink: { add: (entry) => entries.push(entry), flushSoon: () => undefined, flush: () => undefined, pending: unwritable ? 1 : 0 },
    log: recordingLog(),
    now: () => T0,
  });
  const answers: Array<string | null> = [];
  for (const [direction, bytes] of steps) {
    const chunks = size === 0 ? [bytes] : Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
    for (const chunk of chunks) answers.push(direction === 'up' ? capture.up(chunk) : capture.beforeDown(chunk));
  }
  return { capture, entries, answers };
}

const told = (run: Run): Array<[string, Record<string, unknown>]> => run.entries.map((entry) => [entry.type, entry.body]);

const LOGIN: Step[] = [
  ['down', greeting(4242)],
  ['up', handshake('app', 'shop')],
  ['down', OK(2)],
];

const SESSION_STEPS: Step[] = [
  ...LOGIN,
  ['up', command(Command.query, 'select 1')],
  ['down', OK(1)],
  ['up', command(Command.stmtPrepare, 'select * from orders where id = ? and note = ?')],
  ['down', prepareOk(7, 2)],
  ['up', execute(7, -12n, 'hello')],
  ['down', OK(1)],
  ['up', execute(7, 3n, null)],
  ['down', OK(1)],
  ['up', command(Command.initDb, 'archive')],
  ['down', OK(1)],
  ['up', command(Command.query, 'select 2')],
  ['down', OK(1)],
  ['up', command(Command.ping)],
  ['down', OK(1)],
  ['up', command(Command.quit)],
];

const EXPECTED: Array<[string, Record<string, unknown>]> = [
  ['mysql.handshake', { dbUser: 'app', database: 'shop', program: 'rec-client', serverVersion: '10.11.19-MariaDB', connectionId: 4242 }],
  ['mysql.query', { sql: 'select 1', protocol: 'text', database: 'shop' }],
  ['mysql.command', { command: 'prepare', sql: 'select * from orders where id = ? and note = ?' }],
  ['mysql.query', { sql: 'select * from orders where id = ? and note = ?', protocol: 'prepared', database: 'shop', statementId: 7, params: ['-12', 'hello'] }],
  ['mysql.query', { sql: 'select * from orders where id = ? and note = ?', protocol: 'prepared', database: 'shop', statementId: 7, params: ['3', null] }],
  ['mysql.command', { command: 'initDb', database: 'archive' }],
  ['mysql.query', { sql: 'select 2', protocol: 'text', database: 'archive' }],
];

describe('MysqlCapture', () => {
  it('records the handshake, text and prepared statements with their parameters, and COM_INIT_DB', () => {
    const run = play(SESSION_STEPS);
    expect(run.answers.every((answer) => answer === null)).toBe(true);
    expect(told(run)).toEqual(EXPECTED);
    expect(run.capture.serverSession).toEqual({ dbUser: 'app', connectionId: 4242 });
  });

  it("holds back the server's answer to a statement the log could not write, and says why", () => {
    const run = play([...LOGIN.slice(0, 2), ['down', OK(2)], ['up', command(Command.query, 'delete from orders')], ['down', OK(1)]], 0, true);
    // The handshake's entry could not be written either: its OK is held back already.
    expect(run.answers[2]).toMatch(/audit log could not record what the client sent, so the answer was not passed on/);
  });

  it('records the same whatever the chunk boundaries', () => {
    for (const size of [1, 3, 5, 11]) expect(told(play(SESSION_STEPS, size)), `chunks of ${size}`).toEqual(EXPECTED);
  });

  it('shows a parameter sent as long data (COM_STMT_SEND_LONG_DATA) with the execute, cut to what it keeps', () => {
    const longData = (chunk: string): Buffer => {
      const head = Buffer.alloc(6);
      head.writeUInt32LE(9, 0);
      head.writeUInt16LE(0, 4);
      return command(Command.stmtSendLongData, Buffer.concat([head, Buffer.from(chunk)]));
    };
    // Statement 9, one BLOB parameter whose value came as long data: the execute carries only its type.
    const executeBlob = command(Command.stmtExecute, Buffer.from([9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xfc, 0]));
    const run = play([
      ...LOGIN,
      ['up', command(Command.stmtPrepare, 'insert into docs values (?)')],
      ['down', prepareOk(9, 1)],
      ['up', longData('a'.repeat(1000))],
      ['up', longData('b'.repeat(1000))],
      ['up', executeBlob],
    ]);
    expect(run.answers.every((answer) => answer === null)).toBe(true);
    expect(told(run).at(-1)).toEqual([
      'mysql.query',
      {
        sql: 'insert into docs values (?)',
        protocol: 'prepared',
        database: 'shop',
        statementId: 9,
        params: [{ text: `${'a'.repeat(1000)}${'b'.repeat(24)}`, bytes: 2000, truncated: true }],
      },
    ]);
  });

  it('logs an execute of a statement it never saw prepared without its text', () => {
    const run = play([...LOGIN, ['up', execute(99, 1n, 'x')]]);
    expect(told(run).at(-1)).toEqual(['mysql.query', { sql: null, protocol: 'prepared', database: 'shop', statementId: 99 }]);
  });

  it('refuses an execute it cannot tie to its prepare when the client sent commands before the prepare was answered', () => {
    const pipelined: Step[] = [
      ...LOGIN,
      ['up', Buffer.concat([command(Command.stmtPrepare, 'delete from orders'), command(Command.query, 'select 1')])],
      ['down', prepareOk(5, 0)],
      ['down', OK(1)],
      ['up', execute(5, 1n, 'x')],
    ];
    expect(play(pipelined).answers.at(-1)).toMatch(/cannot tie to its COM_STMT_PREPARE/);
    // MariaDB's "the statement prepared last" (0xFFFFFFFF) right behind its prepare: the same.
    const lastPrepared: Step[] = [...LOGIN, ['up', Buffer.concat([command(Command.stmtPrepare, 'delete from orders'), execute(0xffffffff, 1n, 'x')])]];
    expect(play(lastPrepared).answers.at(-1)).toMatch(/statement 4294967295, which the broker cannot tie/);
  });

  it('refuses an answer to a prepare that names a statement id not above the last (not the answer to this prepare)', () => {
    const run = play([
      ...LOGIN,
      ['up', command(Command.stmtPrepare, 'select 1')],
      ['down', prepareOk(7, 0)],
      ['up', command(Command.stmtPrepare, 'select 2')],
      ['down', prepareOk(7, 0)],
    ]);
    expect(run.answers.at(-1)).toMatch(/names statement 7, not above the last one \(7\)/);
  });

  it('refuses a command packet whose sequence id is not 0, once, and records why', () => {
    const run = play([...LOGIN, ['up', command(Command.query, 'drop table orders', 3)], ['up', command(Command.query, 'select 1')]]);
    expect(run.answers.slice(-2)).toEqual([expect.stringMatching(/sequence id 3 where a command/), expect.stringMatching(/sequence id 3/)]);
    expect(told(run).filter(([type]) => type === 'mysql.unrecordable')).toHaveLength(1);
    expect(told(run).some(([, body]) => body.sql === 'drop table orders')).toBe(false);
  });

  it('refuses bytes that are not MySQL packets after the login', () => {
    const run = play([...LOGIN, ['up', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]]);
    expect(run.answers.at(-1)).toMatch(/sequence id/);
    expect(told(run).at(-1)?.[0]).toBe('mysql.unrecordable');
  });

  it('refuses an unknown command and a replication stream', () => {
    expect(play([...LOGIN, ['up', command(0x99)]]).answers.at(-1)).toMatch(/unknown command byte 0x99/);
    expect(play([...LOGIN, ['up', command(Command.binlogDump, Buffer.alloc(10))]]).answers.at(-1)).toMatch(/binlogDump .* does not relay/);
  });

  it('refuses a client that asks for TLS anyway, and one that speaks before the greeting', () => {
    expect(
      play([
        ['down', greeting(1)],
        ['up', sslRequest()],
      ]).answers.at(-1),
    ).toMatch(/asked for TLS, which the broker declines/);
    expect(play([['up', command(Command.query, 'select 1')]]).answers.at(-1)).toMatch(/before the server greeted/);
  });

  it('refuses a client packet out of sequence during authentication', () => {
    const run = play([
      ['down', greeting(1)],
      ['up', handshake('app', null)],
      ['up', command(1, '', 5)],
    ]);
    expect(run.answers.at(-1)).toMatch(/sequence id 5 where 2 comes next/);
  });
});
