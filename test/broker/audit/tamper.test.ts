// Tampering with a real database. A chain is written through the real append path (the request
// service and the batched appender), and then someone holding the database edits it directly: with
// the SQLite file, a raw better-sqlite3 connection that drops the append-only triggers first; on
// PostgreSQL, a superuser's connection that disables them for its transaction. Either changes a
// field, deletes an entry, inserts one or swaps two; verify must name the first bad seq each time.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Audit } from '../../../broker/audit/audit.js';
import { entryHash, sealEntry, type AuditRow } from '../../../broker/audit/entry.js';
import { pgQueryEntry } from '../../../broker/audit/session-entries.js';
import { verifyChain, verifyChainAsync } from '../../../broker/audit/verify.js';
import { RequestService } from '../../../broker/requests/service.js';
import { type Database, SqliteDatabase, openDatabase } from '../../../broker/store/database.js';
import type { SqlDialect } from '../../../broker/store/sql-database.js';
import { tempDir } from '../../helpers/processes.js';
import { STORE_KINDS, openPostgresSchema } from '../../helpers/store-databases.js';
import { HOUR, T0, harness, principal } from '../requests/harness.js';

const ENTRIES = 12;

/** A database with a written chain, and what someone holding it can do. */
interface Victim {
  /** Runs `use` on the broker's connection (the one verify runs on). */
  onBroker<T>(use: (db: Database) => T | Promise<T>): Promise<T>;
  /** Runs `edit` in one transaction on a raw connection, the append-only triggers out of the way. */
  tamper(edit: (raw: Database) => void): void;
  close(): Promise<void>;
}

/** Requests, reviews, a refusal and batched queries: ENTRIES entries through the real code paths. */
async function writeChain(db: Database): Promise<void> {
  const h = harness({ db });
  const audit = new Audit({ db, config: h.config, directory: h.directory, now: () => h.clock.now, logger: h.log });
  // The harness built its service without the audit log; this one shares its store and clock.
  let n = 0;
  const service = new RequestService({
    config: h.config,
    store: h.store,
    directory: h.directory,
    log: h.log,
    now: () => h.clock.now,
    audit: audit.log,
    newId: () => `r${++n}`,
  });
  const alice = principal('alice');
  const first = await service.create(alice, { resource: 'prod-db', reason: 'INC-1' }); // 1 created
  await service.review(principal('bob'), first.id, 'approve', 'ok'); // 2 review_recorded, 3 approved
  await service.create(alice, { resource: 'prod-db', duration: '9h' }).catch(() => null); // 4 policy.refused
  const second = await service.create(alice, { resource: 'prod-db' }); // 5 created
  await service.cancel(alice, second.id); // 6 cancelled
  for (let q = 0; q < 5; q++) {
    audit.batch.add(pgQueryEntry({ sessionId: 's1', user: alice, resource: 'prod-db', at: T0 + q }, { sql: `select ${q}`, protocol: 'simple' }));
  } // 7-11
  audit.batch.flush();
  h.clock.now = T0 + 2 * HOUR;
  service.sweep(); // 12 expired
  audit.close();
}

/** The broker's file, closed after writing; a raw better-sqlite3 connection drops the triggers. */
async function sqliteVictim(): Promise<Victim> {
  const dir = await tempDir('audit-tamper');
  const file = path.join(dir, 'broker.db');
  const broker = openDatabase(file);
  await writeChain(broker);
  broker.close();
  return {
    async onBroker(use) {
      const db = openDatabase(file);
      try {
        return await use(db);
      } finally {
        db.close();
      }
    },
    tamper(edit) {
      const raw = new SqliteDatabase(new Sqlite(file));
      try {
        raw.exec('DROP TRIGGER audit_log_chain; DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
        raw.transaction(() => edit(raw));
      } finally {
        raw.close();
      }
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The broker stays connected; a superuser's connection disables the triggers for its transaction. */
async function postgresVictim(): Promise<Victim> {
  const schema = openPostgresSchema();
  const broker = schema.connect();
  await writeChain(broker);
  return {
    onBroker: async (use) => await use(broker),
    tamper(edit) {
      const raw = schema.connect();
      try {
        raw.transaction(() => {
          raw.exec('ALTER TABLE audit_log DISABLE TRIGGER USER');
          edit(raw);
          raw.exec('ALTER TABLE audit_log ENABLE TRIGGER USER');
        });
      } finally {
        raw.close();
      }
    },
    close: async () => broker.close(),
  };
}

const VICTIMS: Record<SqlDialect, () => Promise<Victim>> = { sqlite: sqliteVictim, postgres: postgresVictim };

function row(raw: Database, seq: number): AuditRow {
  return raw.prepare<[number], AuditRow>('SELECT * FROM audit_log WHERE seq = ?').get(seq) as AuditRow;
}

const CONTENT = ['at', 'type', 'actor_oid', 'actor_upn', 'subject', 'resource', 'body', 'prev_hash', 'hash'] as const;

describe.each(STORE_KINDS)('on %s', (kind) => {
  let victim: Victim;

  beforeEach(async () => {
    victim = await VICTIMS[kind]();
  });

  afterEach(async () => {
    await victim.close();
  });

  describe('verify on an untampered log', () => {
    it('passes with the count and the head hash, synchronously and without blocking', async () => {
      await victim.onBroker(async (db) => {
        const head = db.prepare<[], AuditRow>('SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1').get() as AuditRow;
        expect(head.seq).toBe(ENTRIES);
        expect(head.type).toBe('request.expired');
        const expected = { ok: true, count: ENTRIES, head: { seq: ENTRIES, hash: head.hash } };
        expect(verifyChain(db)).toEqual(expected);
        // Tiny chunks: the async form crosses many chunk boundaries and gives the same answer.
        expect(await verifyChainAsync(db, 5)).toEqual(expected);
      });
    });
  });

  describe('verify names the first bad entry', () => {
    it.each([
      ['actor_oid', "UPDATE audit_log SET actor_oid = 'mallory' WHERE seq = 3"],
      ['body', `UPDATE audit_log SET body = replace(body, 'ok', 'fine') WHERE seq = 2`],
      ['at', 'UPDATE audit_log SET at = at + 1 WHERE seq = 5'],
      ['type', "UPDATE audit_log SET type = 'request.created' WHERE seq = 12"],
    ])('when a field (%s) was changed', async (_field, sql) => {
      const seq = Number(/seq = (\d+)/.exec(sql)?.[1]);
      victim.tamper((raw) => expect(raw.prepare(sql).run().changes).toBe(1));
      expect(await victim.onBroker(verifyChain)).toMatchObject({ ok: false, firstBadSeq: seq, problem: 'altered', count: seq - 1 });
    });

    it('when a field was changed and its hash recomputed: the next entry no longer chains to it', async () => {
      victim.tamper((raw) => {
        const sealed = { ...row(raw, 4), actor_oid: 'mallory' };
        const hash = entryHash([
          sealed.seq,
          sealed.at,
          sealed.type,
          sealed.actor_oid,
          sealed.actor_upn,
          sealed.subject,
          sealed.resource,
          sealed.body,
          sealed.prev_hash,
        ]);
        raw.prepare('UPDATE audit_log SET actor_oid = ?, hash = ? WHERE seq = 4').run('mallory', hash);
      });
      expect(await victim.onBroker(verifyChain)).toMatchObject({ ok: false, firstBadSeq: 5, problem: 'unlinked' });
    });

    it.each([1, 6, ENTRIES - 1])('when entry %i was deleted', async (seq) => {
      victim.tamper((raw) => raw.prepare('DELETE FROM audit_log WHERE seq = ?').run(seq));
      expect(await victim.onBroker(verifyChain)).toMatchObject({
        ok: false,
        firstBadSeq: seq,
        problem: 'missing',
        reason: expect.stringContaining(`entry ${seq} is missing`),
      });
    });

    it('when an entry was deleted and the later ones renumbered to close the gap', async () => {
      victim.tamper((raw) => {
        raw.prepare('DELETE FROM audit_log WHERE seq = 6').run();
        for (let seq = 7; seq <= ENTRIES; seq++) raw.prepare('UPDATE audit_log SET seq = seq - 1 WHERE seq = ?').run(seq);
      });
      expect(await victim.onBroker(verifyChain)).toMatchObject({ ok: false, firstBadSeq: 6, problem: 'unlinked' });
    });

    it('when an entry was inserted (later ones renumbered) with a correct hash chained to its predecessor', async () => {
      victim.tamper((raw) => {
        for (let seq = ENTRIES; seq >= 7; seq--) raw.prepare('UPDATE audit_log SET seq = seq + 1 WHERE seq = ?').run(seq);
        const forged = sealEntry(
          { type: 'request.approved', at: T0, actor: { oid: 'mallory', upn: null }, subject: 'r2', resource: 'prod-db', body: {} },
          7,
          row(raw, 6).hash,
        );
        raw.prepare('INSERT INTO audit_log VALUES (@seq, @at, @type, @actor_oid, @actor_upn, @subject, @resource, @body, @prev_hash, @hash)').run(forged);
      });
      // The forged entry itself is consistent; the entry after it was chained to entry 6.
      expect(await victim.onBroker(verifyChain)).toMatchObject({ ok: false, firstBadSeq: 8, problem: 'unlinked' });
    });

    it('when an entry was inserted with a made-up hash', async () => {
      victim.tamper((raw) => {
        for (let seq = ENTRIES; seq >= 7; seq--) raw.prepare('UPDATE audit_log SET seq = seq + 1 WHERE seq = ?').run(seq);
        const copy = { ...row(raw, 6), seq: 7, prev_hash: row(raw, 6).hash };
        raw.prepare('INSERT INTO audit_log VALUES (@seq, @at, @type, @actor_oid, @actor_upn, @subject, @resource, @body, @prev_hash, @hash)').run(copy);
      });
      expect(await victim.onBroker(verifyChain)).toMatchObject({ ok: false, firstBadSeq: 7, problem: 'altered' });
    });

    it('when an entry was appended after the head with a made-up link', async () => {
      victim.tamper((raw) => {
        const forged = sealEntry(
          { type: 'signin.seen', at: T0, actor: { oid: 'mallory', upn: null }, subject: null, resource: null, body: {} },
          ENTRIES + 1,
          'f'.repeat(64),
        );
        raw.prepare('INSERT INTO audit_log VALUES (@seq, @at, @type, @actor_oid, @actor_upn, @subject, @resource, @body, @prev_hash, @hash)').run(forged);
      });
      expect(await victim.onBroker(verifyChain)).toMatchObject({ ok: false, firstBadSeq: ENTRIES + 1, problem: 'unlinked', count: ENTRIES });
    });

    it.each([
      [2, 3],
      [7, 11],
    ])('when two entries (%i and %i) were swapped', async (a, b) => {
      victim.tamper((raw) => {
        const first = row(raw, a);
        const second = row(raw, b);
        const set = raw.prepare(`UPDATE audit_log SET ${CONTENT.map((c) => `${c} = @${c}`).join(', ')} WHERE seq = @seq`);
        set.run({ ...second, seq: a });
        set.run({ ...first, seq: b });
      });
      expect(await victim.onBroker(verifyChain)).toMatchObject({ ok: false, firstBadSeq: a, problem: 'unlinked' });
    });
  });
});
