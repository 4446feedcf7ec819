// The PostgreSQL schema, as its own ordered list of migrations (the SQLite list is
// broker/store/migrations.ts). Version 1 is the whole schema the SQLite migrations 1–6 built, so a
// new PostgreSQL database starts where a SQLite one stands today; later changes get a version in
// each list. The tables, columns and CHECKs are the same in both, so the stores read the same rows:
// instants, durations and byte counts are BIGINT (JavaScript numbers once read), flags are 0/1
// integers, JSON is stored as the text that was written. Append-only, like the SQLite list.

import { CHANGES_CHANNEL } from '../change-log.js';
import type { Migration } from '../sql-database.js';

const REQUEST_STATES = `'pending', 'approved', 'denied', 'cancelled', 'timed_out', 'expired', 'revoked'`;
const GENESIS_HASH = '0'.repeat(64);

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'requests, reviews, sessions, the audit log, extensions, break-glass and the notification outbox',
    sql: `
      CREATE TABLE requests (
        id                  TEXT    NOT NULL PRIMARY KEY,
        -- Insertion order: the tie-break of every listing (SQLite's rowid), named so the SQL matches.
        rowid               BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
        resource            TEXT    NOT NULL,
        requester_oid       TEXT    NOT NULL,
        requester_upn       TEXT,
        duration_ms         BIGINT  NOT NULL CHECK (duration_ms > 0),
        reason              TEXT,
        ticket              TEXT,
        state               TEXT    NOT NULL CHECK (state IN (${REQUEST_STATES})),
        created_at          BIGINT  NOT NULL,
        pending_until       BIGINT  NOT NULL,
        approvals_required  INTEGER NOT NULL CHECK (approvals_required >= 0),
        granted_at          BIGINT,
        expires_at          BIGINT,
        closed_at           BIGINT,
        closed_by_oid       TEXT,
        closed_by_upn       TEXT,
        close_reason        TEXT,
        auto_approved       INTEGER NOT NULL CHECK (auto_approved IN (0, 1)),
        break_glass         INTEGER NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1)),
        post_review_verdict TEXT    CHECK (post_review_verdict IN ('acceptable', 'not_acceptable')),
        post_review_by_oid  TEXT,
        post_review_by_upn  TEXT,
        post_review_comment TEXT,
        post_review_at      BIGINT,
        CHECK (state NOT IN ('approved', 'expired', 'revoked') OR (granted_at IS NOT NULL AND expires_at IS NOT NULL)),
        CHECK (state IN ('pending', 'approved') OR closed_at IS NOT NULL),
        CHECK (closed_by_oid IS NOT NULL OR closed_by_upn IS NULL)
      );
      CREATE INDEX requests_state_pending_until ON requests (state, pending_until);
      CREATE INDEX requests_state_expires_at ON requests (state, expires_at);
      CREATE INDEX requests_state_created ON requests (state, created_at);
      CREATE INDEX requests_requester_created ON requests (requester_oid, created_at);
      CREATE INDEX requests_break_glass_unreviewed ON requests (created_at) WHERE break_glass = 1 AND post_review_verdict IS NULL;
      CREATE INDEX requests_break_glass ON requests (id) WHERE break_glass = 1;

      CREATE TABLE reviews (
        request_id   TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        position     INTEGER NOT NULL CHECK (position >= 0),
        reviewer_oid TEXT    NOT NULL,
        reviewer_upn TEXT,
        decision     TEXT    NOT NULL CHECK (decision IN ('approve', 'deny')),
        comment      TEXT,
        at           BIGINT  NOT NULL,
        PRIMARY KEY (request_id, position),
        UNIQUE (request_id, reviewer_oid)
      );

      CREATE TABLE sessions (
        id             TEXT    NOT NULL PRIMARY KEY,
        rowid          BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
        request_id     TEXT    NOT NULL REFERENCES requests (id),
        user_oid       TEXT    NOT NULL,
        user_upn       TEXT,
        resource       TEXT    NOT NULL,
        client_address TEXT,
        target         TEXT    NOT NULL,
        started_at     BIGINT  NOT NULL,
        ended_at       BIGINT,
        bytes_up       BIGINT  NOT NULL DEFAULT 0 CHECK (bytes_up >= 0),
        bytes_down     BIGINT  NOT NULL DEFAULT 0 CHECK (bytes_down >= 0),
        end_reason     TEXT,
        end_detail     TEXT,
        CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
        CHECK (end_detail IS NULL OR ended_at IS NOT NULL),
        CHECK (ended_at IS NULL OR ended_at >= started_at)
      );
      CREATE INDEX sessions_user_started ON sessions (user_oid, started_at);
      CREATE INDEX sessions_resource_started ON sessions (resource, started_at);
      CREATE INDEX sessions_started ON sessions (started_at);
      CREATE INDEX sessions_request ON sessions (request_id);
      CREATE INDEX sessions_open ON sessions (started_at) WHERE ended_at IS NULL;
      -- audit sessions --user <upn>: UPNs compare without case, as in SQLite's NOCASE index.
      CREATE INDEX sessions_user_upn_started ON sessions (lower(user_upn), started_at);

      CREATE TABLE audit_log (
        seq       BIGINT  NOT NULL PRIMARY KEY CHECK (seq >= 1),
        at        BIGINT  NOT NULL,
        type      TEXT    NOT NULL,
        actor_oid TEXT,
        actor_upn TEXT,
        subject   TEXT,
        resource  TEXT,
        body      TEXT    NOT NULL,
        prev_hash TEXT    NOT NULL CHECK (length(prev_hash) = 64),
        hash      TEXT    NOT NULL CHECK (length(hash) = 64),
        CHECK (actor_oid IS NOT NULL OR actor_upn IS NULL)
      );
      CREATE INDEX audit_log_at ON audit_log (at);
      CREATE INDEX audit_log_subject ON audit_log (subject, type) WHERE subject IS NOT NULL;

      -- The database keeps the chain whoever writes (the SQLite triggers' twins): a new entry must
      -- extend the head, and nothing is updated or deleted. They raise P0001, which the stores read
      -- as a trigger refusal (broker/store/sql-errors.ts).
      CREATE FUNCTION audit_log_extends_chain() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.prev_hash IS DISTINCT FROM (CASE WHEN NEW.seq = 1 THEN '${GENESIS_HASH}'
                                                 ELSE (SELECT hash FROM audit_log WHERE seq = NEW.seq - 1) END) THEN
          RAISE EXCEPTION 'audit_log: the entry does not extend the chain head';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_extends_chain();
      CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
      END $$;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

      CREATE TABLE extensions (
        request_id          TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        seq                 INTEGER NOT NULL CHECK (seq >= 1),
        duration_ms         BIGINT  NOT NULL CHECK (duration_ms > 0),
        reason              TEXT,
        requested_at        BIGINT  NOT NULL,
        state               TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'lapsed')),
        approvals_required  INTEGER NOT NULL CHECK (approvals_required >= 0),
        -- [{ reviewerOid, reviewerUpn, decision, comment, at }], in order; JSON text as written.
        reviews             TEXT    NOT NULL DEFAULT '[]' CHECK (json_typeof(reviews::json) = 'array'),
        decided_at          BIGINT,
        previous_expires_at BIGINT  NOT NULL,
        PRIMARY KEY (request_id, seq),
        CHECK ((state = 'pending') = (decided_at IS NULL))
      );
      CREATE UNIQUE INDEX extensions_one_pending ON extensions (request_id) WHERE state = 'pending';

      CREATE TABLE notification_outbox (
        id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id     TEXT    NOT NULL UNIQUE,
        destination     TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        notice          TEXT    NOT NULL CHECK (json_typeof(notice::json) IS NOT NULL),
        created_at      BIGINT  NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at BIGINT,
        last_error      TEXT,
        delivered_at    BIGINT,
        gave_up_at      BIGINT,
        CHECK ((next_attempt_at IS NULL) = (delivered_at IS NOT NULL OR gave_up_at IS NOT NULL))
      );
      CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
    `,
  },
  {
    version: 2,
    name: 'request change log',
    // SQLite's migration 7, plus the notification: each row NOTIFYs its seq on CHANGES_CHANNEL,
    // which PostgreSQL delivers when (and only if) the writing transaction commits. Brokers LISTEN
    // there and read the rows they have not seen (broker/requests/remote-changes.ts).
    sql: `
      CREATE TABLE request_changes (
        seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        request_id TEXT   NOT NULL REFERENCES requests (id),
        changes    TEXT   NOT NULL CHECK (json_typeof(changes::json) = 'array'),
        at         BIGINT NOT NULL,
        origin     TEXT   NOT NULL
      );
      CREATE INDEX request_changes_at ON request_changes (at);

      CREATE FUNCTION request_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${CHANGES_CHANNEL}', NEW.seq::text);
        RETURN NULL;
      END $$;
      CREATE TRIGGER request_changes_notify AFTER INSERT ON request_changes FOR EACH ROW EXECUTE FUNCTION request_changes_notify();
    `,
  },
  {
    // SQLite's version 8 (broker/store/migrations.ts says what each table is for).
    version: 3,
    name: 'broker instances, shared identity keys and rate buckets',
    sql: `
      CREATE TABLE broker_instances (
        id           TEXT    NOT NULL PRIMARY KEY,
        host         TEXT    NOT NULL,
        pid          INTEGER NOT NULL,
        started_at   BIGINT  NOT NULL,
        heartbeat_at BIGINT  NOT NULL,
        stopped_at   BIGINT
      );

      ALTER TABLE sessions ADD COLUMN broker_id TEXT REFERENCES broker_instances (id);
      CREATE INDEX sessions_open_broker ON sessions (broker_id) WHERE ended_at IS NULL;

      CREATE TABLE identity_keys (
        kid         TEXT    NOT NULL PRIMARY KEY,
        -- The private key as a JWK: the database already holds everything the broker keeps secret.
        private_jwk TEXT    NOT NULL CHECK (json_typeof(private_jwk::json) = 'object'),
        public_jwk  TEXT    NOT NULL CHECK (json_typeof(public_jwk::json) = 'object'),
        created_at  BIGINT  NOT NULL
      );

      CREATE TABLE rate_buckets (
        scope  TEXT             NOT NULL,
        key    TEXT             NOT NULL,
        tokens DOUBLE PRECISION NOT NULL CHECK (tokens >= 0),
        at     BIGINT           NOT NULL,
        PRIMARY KEY (scope, key)
      );
    `,
  },
];
