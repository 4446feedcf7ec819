// The query log of one tunnel, fed recorded client streams (split at every byte boundary) and
// hand-built ones: what it records for startup, simple and extended queries, COPY, and how it refuses
// a stream it cannot record (once, without throwing, telling the relay why).

import { describe, expect, it } from 'vitest';
import type { NewAuditEntry } from '../../../../broker/audit/entry.js';
import { MAX_QUERY_TEXT_CHARS } from '../../../../broker/audit/session-entries.js';
import type { NewSession } from '../../../../broker/store/session-store.js';
import { MAX_PARAM_VALUE_BYTES } from '../../../../broker/tunnel/postgres/frontend-messages.js';
import { MAX_TRACKED_STATEMENTS, SessionCapture } from '../../../../broker/tunnel/postgres/session-capture.js';
import { recordingLog } from '../../requests/harness.js';
import {
  bind,
  cancelRequest,
  close,
  copyData,
  copyFail,
  execute,
  functionCall,
  message,
  parse,
  password,
  query,
  sslRequest,
  startup,
  sync,
  terminate,
} from './frontend.js';
import { PG_DRIVER, PSQL_PREFER_SSL, PSQL_SCRIPT } from './recorded.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');
const SESSION: NewSession = {
  id: 'ses001',
  requestId: 'req001',
  user: { oid: 'alice', upn: 'alice@contoso.com' },
  resource: 'prod-db',
  clientAddress: '127.0.0.1',
  target: '127.0.0.1:5432',
  startedAt: T0,
};

interface Run {
  capture: SessionCapture;
  entries: NewAuditEntry[];
  log: ReturnType<typeof recordingLog>;
  flushes: number;
  /** Commits asked for at the end of the turn (group commit). */
  soonFlushes: number;
  /** Whether the log's writes fail now (a full disk): flushes then leave everything buffered. */
  failing: boolean;
}

function capture(): Run {
  const entries: NewAuditEntry[] = [];
  const log = recordingLog();
  const run: Run = {
    entries,
    log,
    flushes: 0,
    soonFlushes: 0,
    failing: false,
    capture: new SessionCapture(SESSION, {
      sink: {
        add: (entry) => entries.push(entry),
        flush: () => void run.flushes++,
        flushSoon: () => void run.soonFlushes++,
        get pending() {
          return run.failing ? 1 : 0;
        },
      },
      log,
      now: () => T0 + entries.length,
    }),
  };
  return run;
}

function feed(...chunks: Buffer[]): Run {
  const run = capture();
  for (const chunk of chunks) run.capture.up(chunk);
  return run;
}

/** Type and body of each entry: what the log says, without the clock. */
function told(run: Run): Array<[string, Record<string, unknown>]> {
  return run.entries.map((entry) => [entry.type, entry.body]);
}

/** psql's stream as the capture sees it: after the preamble answered (and swallowed) its SSLRequest. */
const PSQL_AFTER_PREAMBLE = PSQL_PREFER_SSL.subarray(8);

const STARTUP_PSQL = ['pg.startup', { dbUser: 'postgres', database: 'test', applicationName: 'rec-psql', protocol: '3.0' }] as const;

describe('SessionCapture on recorded sessions', () => {
  it.each([
    ['psql script', PSQL_SCRIPT],
    ['psql with sslmode=prefer', PSQL_AFTER_PREAMBLE],
    ['the pg driver', PG_DRIVER],
  ])('records the same entries for %s whatever the chunk boundaries', (_name, stream) => {
    const whole = told(feed(stream));
    expect(whole.length).toBeGreaterThan(2);
    for (let at = 1; at < stream.length; at++) expect(told(feed(stream.subarray(0, at), stream.subarray(at)))).toEqual(whole);
    expect(told(feed(...[...stream].map((byte) => Buffer.from([byte]))))).toEqual(whole);
  });

  it("records psql's startup, each statement it sent, and COPY FROM STDIN data as counts only", () => {
    const run = feed(PSQL_SCRIPT);
    const simple = (sql: string) => ['pg.query', { sql, protocol: 'simple', database: 'test' }];
    expect(told(run)).toEqual([
      STARTUP_PSQL,
      simple('select 1 as one;'),
      simple('create temp table t(a int, b text);'),
      simple("select 'x';"),
      simple("select 'y';"),
      simple('copy t from stdin;'),
      ['pg.copy', { direction: 'in', messages: 1, bytes: 15, outcome: 'done' }],
      simple('select count(*) from t;'),
    ]);
    // The rows themselves ("1\tone") are nowhere in the log.
    expect(JSON.stringify(run.entries)).not.toContain('one\\n');
    expect(run.entries.every((e) => e.subject === 'ses001' && e.resource === 'prod-db' && e.actor?.oid === 'alice')).toBe(true);
    expect(run.capture.refused).toBeNull();
  });

  it('records a multi-statement string as one entry, as sent, after the preamble took the SSLRequest', () => {
    expect(told(feed(PSQL_AFTER_PREAMBLE))).toEqual([
      STARTUP_PSQL,
      ['pg.query', { sql: 'select 1; select 2 as two', protocol: 'simple', database: 'test' }],
      ['pg.query', { sql: 'copy (select g from generate_series(1,3) g) to stdout', protocol: 'simple', database: 'test' }],
    ]);
  });

  it("records each execution of the pg driver's statements with its parameters: text as text, binary as hex, NULL as null", () => {
    expect(told(feed(PG_DRIVER))).toEqual([
      ['pg.startup', { dbUser: 'postgres', database: 'test', applicationName: 'rec-pg', clientEncoding: 'UTF8', protocol: '3.0' }],
      ['pg.query', { sql: 'select $1::int + $2::int as sum, $3::text as t', protocol: 'extended', database: 'test', params: ['1', '2', null] }],
      ['pg.query', { sql: 'select $1::text as v', protocol: 'extended', database: 'test', statement: 'by-id', params: ['first'] }],
      ['pg.query', { sql: 'select $1::text as v', protocol: 'extended', database: 'test', statement: 'by-id', params: ['second'] }],
      ['pg.query', { sql: 'select $1::bytea as b', protocol: 'extended', database: 'test', params: [{ binary: '000102ff' }] }],
    ]);
  });
});

describe('SessionCapture on built streams', () => {
  const START = startup({ user: 'app', database: 'orders' });

  it('logs a portal fetched in several Executes once, with its portal name', () => {
    const run = feed(START, parse('', 'select * from big'), bind('cur', '', []), execute('cur', 100), execute('cur', 100), execute('cur', 100), sync());
    expect(told(run).slice(1)).toEqual([['pg.query', { sql: 'select * from big', protocol: 'extended', database: 'orders', portal: 'cur', params: [] }]]);
  });

  it('records the database as the role when the client names none, as the server does', () => {
    expect(told(feed(startup({ user: 'app' })))[0]).toEqual(['pg.startup', { dbUser: 'app', database: 'app', applicationName: null, protocol: '3.0' }]);
  });

  it(`cuts a parameter value above ${MAX_PARAM_VALUE_BYTES} bytes and says how big it was`, () => {
    const long = 'y'.repeat(5000);
    const blob = Buffer.alloc(3000, 0xab);
    const run = feed(START, parse('s1', 'insert into docs values ($1, $2)'), bind('', 's1', [long, blob]), execute(''));
    expect(run.entries[1]?.body['params']).toEqual([
      { text: 'y'.repeat(MAX_PARAM_VALUE_BYTES), bytes: 5000, truncated: true },
      { binary: 'ab'.repeat(MAX_PARAM_VALUE_BYTES), bytes: 3000, truncated: true },
    ]);
  });

  it('keeps the start of a query larger than it reads and records that it was cut', () => {
    const sql = `insert into t values ${Array.from({ length: 20_000 }, (_, i) => `(${i})`).join(',')}`;
    const body = feed(START, query(sql)).entries[1]?.body;
    expect(body).toMatchObject({ protocol: 'simple', truncated: true, messageBytes: Buffer.byteLength(sql) + 1 });
    expect(body?.['sql']).toBe(sql.slice(0, MAX_QUERY_TEXT_CHARS));
    expect(body).not.toHaveProperty('sqlChars');
  });

  it('never reads password messages', () => {
    const run = feed(START, password('correct horse battery staple'), query('select 1'));
    expect(JSON.stringify(run.entries)).not.toContain('horse');
    expect(told(run).map(([type]) => type)).toEqual(['pg.startup', 'pg.query']);
  });

  it('records a failed COPY and a COPY the tunnel ended in the middle of, then flushes at the end', () => {
    const run = feed(
      START,
      query('copy t from stdin'),
      copyData(Buffer.from('1\n')),
      copyFail('user cancelled'),
      query('copy t from stdin'),
      copyData(Buffer.from('2\n')),
      copyData(Buffer.from('3\n')),
    );
    run.capture.end();
    expect(
      told(run)
        .slice(2)
        .filter(([type]) => type === 'pg.copy'),
    ).toEqual([
      ['pg.copy', { direction: 'in', messages: 1, bytes: 2, outcome: 'failed' }],
      ['pg.copy', { direction: 'in', messages: 2, bytes: 4, outcome: 'unfinished' }],
    ]);
    expect(run.flushes).toBe(1);
  });

  it(`forgets the oldest prepared statement beyond ${MAX_TRACKED_STATEMENTS} and still logs its execution, without SQL`, () => {
    const prepares = Array.from({ length: MAX_TRACKED_STATEMENTS + 1 }, (_, i) => parse(`s${i}`, `select ${i}`));
    const run = feed(START, ...prepares, bind('', 's0', []), execute(''), bind('', 's1', []), execute(''));
    expect(told(run).slice(1)).toEqual([
      ['pg.query', { sql: null, protocol: 'extended', database: 'orders', statement: 's0', params: [] }],
      ['pg.query', { sql: 'select 1', protocol: 'extended', database: 'orders', statement: 's1', params: [] }],
    ]);
  });

  it('forgets a statement the client closed', () => {
    const run = feed(START, parse('s1', 'select 1'), close('S', 's1'), bind('', 's1', []), execute(''));
    expect(run.entries[1]?.body).toMatchObject({ sql: null, statement: 's1' });
  });

  it('records a fast-path function call by its oid', () => {
    expect(told(feed(START, functionCall(764)))[1]).toEqual(['pg.query', { sql: null, protocol: 'function', database: 'orders', functionOid: 764 }]);
  });

  it('records what follows a Terminate: it does not bet on the server stopping there (inside COPY it is an error)', () => {
    const run = feed(START, query('copy t from stdin'), copyData(Buffer.from('1\n')), terminate(), query('select 2'));
    expect(told(run).map(([type, body]) => [type, body['sql'] ?? null])).toEqual([
      ['pg.startup', null],
      ['pg.query', 'copy t from stdin'],
      ['pg.query', 'select 2'],
    ]);
    expect(run.capture.refused).toBeNull();
  });

  it('refuses bytes after a Terminate that are not a message', () => {
    const run = capture();
    expect(run.capture.up(Buffer.concat([START, query('select 1'), terminate(), Buffer.from('junk!')]))).toMatch(/unknown message type 0x6a/);
  });

  it('refuses bytes after a CancelRequest', () => {
    const run = capture();
    expect(run.capture.up(Buffer.concat([cancelRequest(4242, 99), query('select 1')]))).toBe('bytes after a CancelRequest');
  });

  it("records nothing for a connection that only cancels another session's query", () => {
    const run = feed(cancelRequest(4242, 99));
    expect(run.entries).toEqual([]);
    expect(run.log.lines).toEqual([]);
  });

  it('flushes nothing at the end of a session it recorded nothing for', () => {
    const run = feed(cancelRequest(1, 2));
    run.capture.end();
    expect(run.flushes).toBe(0);
  });
});

describe('SessionCapture refusing what it cannot record', () => {
  const START = startup({ user: 'app', database: 'orders' });

  it.each([
    ['garbage after startup', [START, query('select 1'), Buffer.from('\x00garbage that is not a message')], /unknown message type 0x00/],
    ['an unknown first message', [Buffer.from('GET / HTTP/1.1\r\nHost: db\r\n\r\n')], /first message .* is not a Postgres startup message/],
    ['a TLS ClientHello instead of a startup message', [Buffer.from('16030100c4010000c00303', 'hex')], /first message .* is not a Postgres startup message/],
    ['a TLS ClientHello after startup', [START, Buffer.from('16030100c4010000c00303', 'hex')], /unknown message type 0x16/],
    ['an encryption request that reached the stream', [START.subarray(0, 0), sslRequest()], /encryption request \(SSLRequest\) the broker did not answer/],
    ['a malformed length', [START, Buffer.from('5100000001', 'hex')], /impossible length 1/],
    ['a length beyond what PostgreSQL accepts', [START, Buffer.from('517fffffff', 'hex')], /impossible length 2147483647/],
    ['a startup message beyond what PostgreSQL accepts', [Buffer.from('7fffffff00030000', 'hex')], /not a Postgres startup message/],
    [
      'a Bind whose parameters run past its end',
      [START, message('B', Buffer.from('\0\0\0\0\0\x01\0\0\0\x09ab\0\0', 'latin1'))],
      /Bind: a parameter value runs past the end/,
    ],
    ['a Query without its terminating NUL', [START, message('Q', Buffer.from('select 1'))], /Query: a string has no terminating NUL/],
  ])('refuses %s: says why to the relay, one pg.unrecordable entry and one log line, and no throw', (_name, chunks, reason) => {
    const run = capture();
    const answers = chunks.map((chunk) => run.capture.up(chunk));
    expect(answers.slice(0, -1).every((answer) => answer === null)).toBe(true);
    expect(answers.at(-1)).toMatch(reason);
    // Later bytes, even valid ones, are refused the same way: the relay has ended the session.
    expect(run.capture.up(query('select 2'))).toBe(answers.at(-1));
    const refused = run.entries.filter((e) => e.type === 'pg.unrecordable');
    expect(refused).toHaveLength(1);
    expect(refused[0]?.body['reason']).toBe(answers.at(-1));
    expect(run.entries.at(-1)?.type).toBe('pg.unrecordable');
    const warnings = run.log.lines.filter((l) => l.message.startsWith('ended the session at bytes it cannot record: '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.fields).toMatchObject({ session: 'ses001', resource: 'prod-db' });
    expect(run.capture.refused).toBe(answers.at(-1));
  });

  it('says at which byte of the stream it stopped', () => {
    const before = Buffer.concat([START, query('select 1')]);
    const run = feed(before, Buffer.from('Zxxxx'));
    expect(run.entries.at(-1)?.body).toMatchObject({ atByte: before.length + 5 });
  });
});

describe('before the target answers', () => {
  it('writes the statements it holds, so no client sees an answer to a statement a crash could still take from the log', () => {
    const run = feed(startup({ user: 'alice', database: 'orders' }), query('select 1'));
    const before = run.flushes;
    run.capture.beforeDown(Buffer.alloc(0));
    expect(run.flushes).toBe(before + 1);
    // Nothing new since: the next answer chunk costs no write.
    run.capture.beforeDown(Buffer.alloc(0));
    expect(run.flushes).toBe(before + 1);
    run.capture.up(query('select 2'));
    run.capture.beforeDown(Buffer.alloc(0));
    expect(run.flushes).toBe(before + 2);
  });

  it('asks for a commit at the end of the turn when a chunk brings statements, so it runs while the server works', () => {
    const run = feed(startup({ user: 'alice', database: 'orders' }));
    run.capture.beforeDown(Buffer.alloc(0));
    const before = run.soonFlushes;
    run.capture.up(query('select 1'));
    expect(run.soonFlushes).toBe(before + 1);
    run.capture.beforeDown(Buffer.alloc(0));
    // A chunk that records nothing (Sync alone) asks for no commit.
    run.capture.up(sync());
    expect(run.soonFlushes).toBe(before + 1);
  });

  it('refuses to let an answer through when the log cannot write the statements it answers, and keeps trying', () => {
    const run = feed(startup({ user: 'alice', database: 'orders' }), query('select 1'));
    run.failing = true;
    expect(run.capture.beforeDown(Buffer.alloc(0))).toMatch(/audit log could not record what the client sent/);
    // Still unwritten: the next answer is refused too, until a write succeeds.
    expect(run.capture.beforeDown(Buffer.alloc(0))).not.toBeNull();
    run.failing = false;
    expect(run.capture.beforeDown(Buffer.alloc(0))).toBeNull();
  });
});
