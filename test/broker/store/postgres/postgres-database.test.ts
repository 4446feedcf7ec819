// The PostgreSQL connection the stores use synchronously (broker/store/postgres/): placeholders
// rewritten as PostgreSQL wants them, transactions and savepoints, the write lock that serializes
// brokers, and what a caller sees when the server refuses, times out or cannot be reached. Against
// the machine's PostgreSQL (127.0.0.1:5432, database test), each test file in a schema of its own.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDatabase, redactedUrl, toPositional } from '../../../../broker/store/postgres/postgres-database.js';
import { PostgresError } from '../../../../broker/store/postgres/sync-connection.js';
import { constraintViolated } from '../../../../broker/store/sql-errors.js';
import { storeWriteFailure } from '../../../../broker/store/write-failure.js';
import { AccessError } from '../../../../shared/errors.js';
import { pgSchemaUrl, TEST_POSTGRES_URL } from '../../../helpers/pg-schema.js';

const SERVER = TEST_POSTGRES_URL;
const SCHEMA = `conn_test_${process.pid}`;
const IN_SCHEMA = pgSchemaUrl(SCHEMA);

describe('toPositional', () => {
  it('numbers ? placeholders in order', () => {
    expect(toPositional('SELECT * FROM t WHERE a = ? AND b = ?')).toEqual({ text: 'SELECT * FROM t WHERE a = $1 AND b = $2', names: null, count: 2 });
  });

  it('gives a repeated @name one number, and keeps casts', () => {
    expect(toPositional('SELECT 1 WHERE (@at::bigint IS NULL OR x < @at) AND y = @row')).toEqual({
      text: 'SELECT 1 WHERE ($1::bigint IS NULL OR x < $1) AND y = $2',
      names: ['at', 'row'],
      count: 2,
    });
  });

  it('leaves quoted strings, quoted identifiers and comments alone', () => {
    const sql = `SELECT '?', 'it''s @x', "odd?col" -- why? @y\nFROM t /* @z ? */ WHERE a = ?`;
    expect(toPositional(sql).text).toBe(`SELECT '?', 'it''s @x', "odd?col" -- why? @y\nFROM t /* @z ? */ WHERE a = $1`);
  });

  it('refuses a statement mixing both kinds', () => {
    expect(() => toPositional('SELECT ? , @a')).toThrow(/either \? or @name/);
  });
});

describe('redactedUrl', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactedUrl('postgres://broker:s3cret@db.internal:5432/access')).toBe('postgres://broker:***@db.internal:5432/access');
  });

  it('says how to write the URL when it is not one', () => {
    expect(() => redactedUrl('db.internal:5432')).toThrow(/postgres:\/\/USER:PASSWORD@HOST:5432\/DATABASE/);
    expect(() => redactedUrl('mysql://root@db:3306/x')).toThrow(/not a postgres:\/\/ URL/);
  });
});

describe('PostgresDatabase', () => {
  let admin: PostgresDatabase;
  let db: PostgresDatabase;

  beforeAll(() => {
    admin = new PostgresDatabase({ url: SERVER });
    admin.exec(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA}`);
    db = new PostgresDatabase({ url: IN_SCHEMA });
    db.exec('CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, flag INTEGER NOT NULL DEFAULT 0)');
  });

  afterAll(() => {
    db?.close();
    admin?.exec(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    admin?.close();
  });

  it('runs, reads rows, single values and arrays as better-sqlite3 does', () => {
    const insert = db.prepare<{ id: number; name: string; flag: boolean }>('INSERT INTO items (id, name, flag) VALUES (@id, @name, @flag)');
    expect(insert.run({ id: 1, name: 'one', flag: true }).changes).toBe(1);
    insert.run({ id: 2, name: 'two', flag: false });
    expect(db.prepare<[number], { id: number; name: string; flag: number }>('SELECT id, name, flag FROM items WHERE id = ?').get(1)).toEqual({
      id: 1,
      name: 'one',
      flag: 1,
    });
    expect(db.prepare('SELECT name FROM items ORDER BY id').pluck().all()).toEqual(['one', 'two']);
    expect(db.prepare('SELECT id, name FROM items ORDER BY id').raw().all()).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    expect(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM items').get()).toEqual({ n: 2 });
    expect(db.prepare('SELECT name FROM items WHERE id = ?').get(99)).toBeUndefined();
  });

  it('refuses a missing named parameter and a wrong count, naming the statement', () => {
    expect(() => db.prepare('SELECT @a::int AS a, @b::int AS b').get({ a: 1 })).toThrow(/missing named parameter "b"/);
    expect(() => db.prepare('SELECT ?::int').get()).toThrow(/takes 1 parameters, 0 were given/);
  });

  it('commits a transaction whole and rolls it back whole', () => {
    const insert = db.prepare('INSERT INTO items (id, name) VALUES (?, ?)');
    db.transaction(() => {
      insert.run(10, 'ten');
      insert.run(11, 'eleven');
    });
    expect(() =>
      db.transaction(() => {
        insert.run(12, 'twelve');
        insert.run(10, 'ten again');
      }),
    ).toThrow(PostgresError);
    expect(db.prepare('SELECT id FROM items WHERE id >= 10 ORDER BY id').pluck().all()).toEqual([10, 11]);
    expect(db.inTransaction).toBe(false);
  });

  it('makes a nested transaction a savepoint: it undoes alone and the outer one commits', () => {
    const insert = db.prepare('INSERT INTO items (id, name) VALUES (?, ?)');
    db.transaction(() => {
      insert.run(20, 'kept');
      expect(() =>
        db.transaction(() => {
          insert.run(21, 'undone');
          insert.run(20, 'duplicate');
        }),
      ).toThrow(PostgresError);
      insert.run(22, 'kept too');
    });
    expect(db.prepare('SELECT id FROM items WHERE id >= 20 ORDER BY id').pluck().all()).toEqual([20, 22]);
  });

  it('refuses an async transaction body and writes nothing of it', () => {
    expect(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO items (id, name) VALUES (?, ?)').run(30, 'async');
        return Promise.resolve();
      }),
    ).toThrow(/must be synchronous/);
    expect(db.prepare('SELECT count(*) AS n FROM items WHERE id = 30').pluck().get()).toBe(0);
  });

  it("reads PostgreSQL's constraint violations as the stores know them", () => {
    let caught: unknown;
    try {
      db.prepare('INSERT INTO items (id, name) VALUES (?, ?)').run(1, 'again');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PostgresError);
    expect((caught as PostgresError).code).toBe('23505');
    expect(constraintViolated(caught)).toBe('primary_key');
  });

  it('holds one write lock across connections: a second broker waits for the first to commit', () => {
    const other = new PostgresDatabase({ url: IN_SCHEMA, timeoutMs: 500 });
    try {
      db.transaction(() => {
        db.prepare('INSERT INTO items (id, name) VALUES (?, ?)').run(40, 'first');
        // Both connections run on this one thread: the second cannot get the lock while the first
        // holds it, so it gives up at its timeout (the lock wait's or the statement's, whichever fires).
        let caught: unknown;
        try {
          other.transaction(() => other.prepare('INSERT INTO items (id, name) VALUES (?, ?)').run(41, 'second'));
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(PostgresError);
        expect(storeWriteFailure(caught)?.code).toBe('store_unavailable');
      });
      other.transaction(() => other.prepare('INSERT INTO items (id, name) VALUES (?, ?)').run(41, 'second'));
      expect(db.prepare('SELECT id FROM items WHERE id >= 40 ORDER BY id').pluck().all()).toEqual([40, 41]);
    } finally {
      other.close();
    }
  });

  it('commits nothing when the connection is lost inside a transaction, and the next one runs on a new connection', () => {
    db.exec('CREATE TABLE IF NOT EXISTS lost (id BIGINT PRIMARY KEY)');
    expect(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO lost (id) VALUES (?)').run(1);
        const pid = db.prepare('SELECT pg_backend_pid() AS pid').pluck().get() as number;
        // The server ends this broker's session between its last write and the COMMIT.
        admin.prepare('SELECT pg_terminate_backend(?)').get(pid);
      }),
    ).toThrow();
    expect(db.inTransaction).toBe(false);
    expect(db.prepare('SELECT count(*) AS n FROM lost').pluck().get()).toBe(0);
    db.transaction(() => db.prepare('INSERT INTO lost (id) VALUES (?)').run(2));
    expect(db.prepare('SELECT id FROM lost').pluck().all()).toEqual([2]);
  });

  it('gives up a statement at its timeout, and the next one runs', () => {
    const slow = new PostgresDatabase({ url: IN_SCHEMA, timeoutMs: 300 });
    try {
      let caught: unknown;
      try {
        slow.prepare('SELECT pg_sleep(?)').get(2);
      } catch (error) {
        caught = error;
      }
      expect((caught as PostgresError).code).toBe('57014');
      expect(storeWriteFailure(caught)?.code).toBe('store_unavailable');
      expect(slow.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 });
    } finally {
      slow.close();
    }
  });

  it('says which database it cannot reach, without its password, and what to check', () => {
    const nowhere = new PostgresDatabase({ url: 'postgres://broker:s3cret@127.0.0.1:1/access', timeoutMs: 1_000 });
    try {
      let caught: unknown;
      try {
        nowhere.exec('SELECT 1');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(AccessError);
      expect((caught as AccessError).code).toBe('store_unavailable');
      expect((caught as AccessError).message).toContain('postgres://broker:***@127.0.0.1:1/access');
      expect((caught as AccessError).message).not.toContain('s3cret');
      expect((caught as AccessError).message).toContain('check that it is running and reachable');
    } finally {
      nowhere.close();
    }
  });
});
