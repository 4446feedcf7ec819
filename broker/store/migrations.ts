// The schema, as an ordered list of migrations. A database records the versions applied to it in
// `schema_migrations`; opening applies the missing ones in one transaction, so a crash mid-upgrade
// leaves the previous schema intact. Migrations are append-only: never edit a shipped one, add
// the next version instead. This is SQLite's list; PostgreSQL has its own
// (postgres/migrations.ts), and applyMigrations picks by the database's dialect.
//
// The list is plain data (no functions) so a child process in the tests can build the same
// schema with better-sqlite3 alone.

import { AccessError } from '../../shared/errors.js';
import { POSTGRES_MIGRATIONS } from './postgres/migrations.js';
import type { Migration, SqlDatabase, SqlDialect } from './sql-database.js';

const REQUEST_STATES = `'pending', 'approved', 'denied', 'cancelled', 'timed_out', 'expired', 'revoked'`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'access requests and reviews',
    // STRICT tables refuse a value of the wrong type instead of storing it as something else.
    // The CHECKs hold the invariants every reader relies on, whatever code wrote the row.
    sql: `
      CREATE TABLE requests (
        id                 TEXT    NOT NULL PRIMARY KEY,
        resource           TEXT    NOT NULL,
        requester_oid      TEXT    NOT NULL,
        requester_upn      TEXT,
        duration_ms        INTEGER NOT NULL CHECK (duration_ms > 0),
        reason             TEXT,
        ticket             TEXT,
        state              TEXT    NOT NULL CHECK (state IN (${REQUEST_STATES})),
        created_at         INTEGER NOT NULL,
        pending_until      INTEGER NOT NULL,
        approvals_required INTEGER NOT NULL CHECK (approvals_required >= 0),
        granted_at         INTEGER,
        expires_at         INTEGER,
        closed_at          INTEGER,
        closed_by_oid      TEXT,
        closed_by_upn      TEXT,
        close_reason       TEXT,
        auto_approved      INTEGER NOT NULL CHECK (auto_approved IN (0, 1)),
        -- A grant (live or ended) always knows when it started and ends: the expiry sweep needs it.
        CHECK (state NOT IN ('approved', 'expired', 'revoked') OR (granted_at IS NOT NULL AND expires_at IS NOT NULL)),
        -- Every closed request says when it closed.
        CHECK (state IN ('pending', 'approved') OR closed_at IS NOT NULL),
        -- A closer's display name never comes without the closer.
        CHECK (closed_by_oid IS NOT NULL OR closed_by_upn IS NULL)
      ) STRICT;

      -- listDue / nextDeadline: the open requests in deadline order, per state.
      CREATE INDEX requests_state_pending_until ON requests (state, pending_until);
      CREATE INDEX requests_state_expires_at ON requests (state, expires_at);
      -- listByStates: newest first within a state.
      CREATE INDEX requests_state_created ON requests (state, created_at);
      -- listByRequester / recentFor: a requester's requests, newest first.
      CREATE INDEX requests_requester_created ON requests (requester_oid, created_at);

      CREATE TABLE reviews (
        request_id   TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        -- Order of the review in AccessRequest.reviews (0, 1, …).
        position     INTEGER NOT NULL CHECK (position >= 0),
        reviewer_oid TEXT    NOT NULL,
        reviewer_upn TEXT,
        decision     TEXT    NOT NULL CHECK (decision IN ('approve', 'deny')),
        comment      TEXT,
        at           INTEGER NOT NULL,
        PRIMARY KEY (request_id, position),
        -- The database itself guarantees an approver counts once per request.
        UNIQUE (request_id, reviewer_oid)
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'tunnel sessions',
    // One row per tunnel (broker/store/session-store.ts): inserted when the WebSocket opens,
    // completed when it closes. A row with ended_at NULL is an open tunnel, or one a crash left
    // behind (closed as 'broker_restart' at the next start).
    sql: `
      CREATE TABLE sessions (
        id             TEXT    NOT NULL PRIMARY KEY,
        -- The grant the tunnel runs under.
        request_id     TEXT    NOT NULL REFERENCES requests (id),
        user_oid       TEXT    NOT NULL,
        user_upn       TEXT,
        resource       TEXT    NOT NULL,
        client_address TEXT,
        -- host:port as dialled.
        target         TEXT    NOT NULL,
        started_at     INTEGER NOT NULL,
        ended_at       INTEGER,
        -- Client → target and target → client; updated while open, final at close.
        bytes_up       INTEGER NOT NULL DEFAULT 0 CHECK (bytes_up >= 0),
        bytes_down     INTEGER NOT NULL DEFAULT 0 CHECK (bytes_down >= 0),
        end_reason     TEXT,
        end_detail     TEXT,
        -- An ended session always says why; an open one has no reason yet.
        CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
        CHECK (end_detail IS NULL OR ended_at IS NOT NULL),
        CHECK (ended_at IS NULL OR ended_at >= started_at)
      ) STRICT;

      -- Listings by user or resource, newest first, and by time alone.
      CREATE INDEX sessions_user_started ON sessions (user_oid, started_at);
      CREATE INDEX sessions_resource_started ON sessions (resource, started_at);
      CREATE INDEX sessions_started ON sessions (started_at);
      -- The sessions of a grant (audit: what was done under request X).
      CREATE INDEX sessions_request ON sessions (request_id);
      -- Crash recovery at start: the open ones only.
      CREATE INDEX sessions_open ON sessions (started_at) WHERE ended_at IS NULL;
    `,
  },
  {
    version: 3,
    name: 'audit log',
    // The tamper-evident audit log (broker/audit): one row per entry, each carrying the hash of the
    // one before it (broker/audit/entry.ts defines the hash). seq is the rowid: gapless, assigned
    // by the appender inside the writing transaction.
    sql: `
      CREATE TABLE audit_log (
        seq       INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
        at        INTEGER NOT NULL,
        type      TEXT    NOT NULL,
        actor_oid TEXT,
        actor_upn TEXT,
        -- Request id or session id.
        subject   TEXT,
        resource  TEXT,
        -- Canonical JSON (sorted keys, no whitespace): hashed as stored.
        body      TEXT    NOT NULL,
        prev_hash TEXT    NOT NULL CHECK (length(prev_hash) = 64),
        hash      TEXT    NOT NULL CHECK (length(hash) = 64),
        CHECK (actor_oid IS NOT NULL OR actor_upn IS NULL)
      ) STRICT;

      -- The database keeps the chain whoever writes: a new entry must extend the head (seq 1 on the
      -- genesis hash, every other seq on the hash of seq - 1), and nothing is updated or deleted.
      -- Someone with the file can drop these triggers; the hash chain is what shows that.
      CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
      WHEN NEW.prev_hash IS NOT (CASE WHEN NEW.seq = 1 THEN '${'0'.repeat(64)}' ELSE (SELECT hash FROM audit_log WHERE seq = NEW.seq - 1) END)
      BEGIN
        SELECT RAISE(ABORT, 'audit_log: the entry does not extend the chain head');
      END;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
      BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only');
      END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
      BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only');
      END;

      -- events --since: the first seq at or after an instant.
      CREATE INDEX audit_log_at ON audit_log (at);
      -- show ID: a request's or session's entries; with type, a session's query count is an index count.
      CREATE INDEX audit_log_subject ON audit_log (subject, type) WHERE subject IS NOT NULL;
      -- audit sessions --user <upn>: sessions are keyed by oid, auditors often know the UPN.
      CREATE INDEX sessions_user_upn_started ON sessions (user_upn COLLATE NOCASE, started_at);
    `,
  },
  {
    version: 4,
    name: 'grant extensions',
    // One row per extension asked for on a grant (`access extend`, broker/requests/extension.ts).
    // Its reviews are a JSON array: they belong to the extension, and an approver of the grant
    // may review its extensions too (the reviews table allows one review per request and person).
    sql: `
      CREATE TABLE extensions (
        request_id          TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        seq                 INTEGER NOT NULL CHECK (seq >= 1),
        duration_ms         INTEGER NOT NULL CHECK (duration_ms > 0),
        reason              TEXT,
        requested_at        INTEGER NOT NULL,
        state               TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'lapsed')),
        approvals_required  INTEGER NOT NULL CHECK (approvals_required >= 0),
        -- [{ reviewerOid, reviewerUpn, decision, comment, at }], in order.
        reviews             TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(reviews)),
        decided_at          INTEGER,
        previous_expires_at INTEGER NOT NULL,
        PRIMARY KEY (request_id, seq),
        CHECK ((state = 'pending') = (decided_at IS NULL))
      ) STRICT;

      -- At most one pending extension per grant, whatever code writes.
      CREATE UNIQUE INDEX extensions_one_pending ON extensions (request_id) WHERE state = 'pending';
    `,
  },
  {
    version: 5,
    name: 'break-glass grants and their post-review',
    // A break-glass grant (broker/requests/break-glass.ts) is a request row marked break_glass = 1;
    // its post-review is recorded once, by an approver, in the same row.
    sql: `
      ALTER TABLE requests ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1));
      ALTER TABLE requests ADD COLUMN post_review_verdict TEXT CHECK (post_review_verdict IN ('acceptable', 'not_acceptable'));
      ALTER TABLE requests ADD COLUMN post_review_by_oid TEXT;
      ALTER TABLE requests ADD COLUMN post_review_by_upn TEXT;
      ALTER TABLE requests ADD COLUMN post_review_comment TEXT;
      ALTER TABLE requests ADD COLUMN post_review_at INTEGER;

      -- The approvers' queue of break-glass grants that wait for a post-review.
      CREATE INDEX requests_break_glass_unreviewed ON requests (created_at) WHERE break_glass = 1 AND post_review_verdict IS NULL;
      -- access audit sessions --break-glass: the break-glass grants.
      CREATE INDEX requests_break_glass ON requests (id) WHERE break_glass = 1;
    `,
  },
  {
    version: 6,
    name: 'notification outbox',
    // Notifications to deliver (broker/notifications): one row per notice and destination, written
    // in the transaction of the change that causes it, so a crash loses none and a restart resumes
    // delivery. `notice` is the Notice as JSON; the destination formats it at delivery.
    sql: `
      CREATE TABLE notification_outbox (
        id              INTEGER NOT NULL PRIMARY KEY,
        -- Sent as X-Access-Delivery: the same on every retry, so receivers can drop duplicates.
        delivery_id     TEXT    NOT NULL UNIQUE,
        destination     TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        notice          TEXT    NOT NULL CHECK (json_valid(notice)),
        created_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at INTEGER,
        last_error      TEXT,
        delivered_at    INTEGER,
        gave_up_at      INTEGER,
        -- Waiting rows have a next attempt; delivered and given-up ones have none.
        CHECK ((next_attempt_at IS NULL) = (delivered_at IS NOT NULL OR gave_up_at IS NOT NULL))
      ) STRICT;

      -- The dispatcher's queue: what is due next.
      CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
    `,
  },
  {
    version: 7,
    name: 'request change log',
    // Every committed request change, written in its transaction (store/change-log.ts): brokers
    // sharing a PostgreSQL database read the others' changes from it (requests/remote-changes.ts).
    // `seq` only grows (pruning runs after each insert, so the newest row always stays and its
    // number is never reused); `changes` is the JSON array of change names; `origin` the writing
    // broker's instance id. Rows older than the retention are dropped as new ones are written.
    sql: `
      CREATE TABLE request_changes (
        seq        INTEGER NOT NULL PRIMARY KEY,
        request_id TEXT    NOT NULL REFERENCES requests (id),
        changes    TEXT    NOT NULL CHECK (json_valid(changes)),
        at         INTEGER NOT NULL,
        origin     TEXT    NOT NULL
      ) STRICT;

      -- The pruning: the oldest rows first.
      CREATE INDEX request_changes_at ON request_changes (at);
    `,
  },
  {
    version: 8,
    name: 'broker instances, shared identity keys and rate buckets',
    // What one broker process used to hold alone, shared by every broker on the database:
    // - broker_instances: each broker's row, written at start, refreshed by its heartbeat
    //   (broker/broker-presence.ts) and marked stopped at a clean shutdown. A session belongs to the
    //   broker that relays it (sessions.broker_id); the others close it only once that broker has
    //   stopped or gone silent (broker_lost).
    // - identity_keys: the key pairs that sign identity tokens for http/grpc targets
    //   (broker/tunnel/http/identity-token.ts), so every broker signs with a key every broker publishes.
    // - rate_buckets: per-caller token buckets (broker/store/rate-buckets.ts), so a limit is one limit
    //   however many brokers a caller's calls reach.
    sql: `
      CREATE TABLE broker_instances (
        id           TEXT    NOT NULL PRIMARY KEY,
        host         TEXT    NOT NULL,
        pid          INTEGER NOT NULL,
        started_at   INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        stopped_at   INTEGER
      ) STRICT;

      -- Null for sessions opened before this version (closed at the next start, as before).
      ALTER TABLE sessions ADD COLUMN broker_id TEXT REFERENCES broker_instances (id);
      -- Reconciliation: the open sessions of one broker.
      CREATE INDEX sessions_open_broker ON sessions (broker_id) WHERE ended_at IS NULL;

      CREATE TABLE identity_keys (
        kid         TEXT    NOT NULL PRIMARY KEY,
        -- The private key as a JWK (JSON text). It sits beside everything else the broker keeps
        -- secret (grants, the audit log): whoever can read this database is already trusted.
        private_jwk TEXT    NOT NULL CHECK (json_valid(private_jwk)),
        public_jwk  TEXT    NOT NULL CHECK (json_valid(public_jwk)),
        created_at  INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE rate_buckets (
        -- What is limited (e.g. 'request_creation') and whose bucket (a user's object id).
        scope  TEXT    NOT NULL,
        key    TEXT    NOT NULL,
        tokens REAL    NOT NULL CHECK (tokens >= 0),
        at     INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
      ) STRICT;
    `,
  },
];

/** The newest schema version this code knows (SQLite's list). */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** The migrations of a database of `dialect`. */
export function migrationsFor(dialect: SqlDialect): readonly Migration[] {
  return dialect === 'postgres' ? POSTGRES_MIGRATIONS : MIGRATIONS;
}

const CREATE_SCHEMA_MIGRATIONS: Readonly<Record<SqlDialect, string>> = {
  sqlite: `
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER NOT NULL PRIMARY KEY,
      name       TEXT    NOT NULL,
      applied_at INTEGER NOT NULL
    ) STRICT`,
  postgres: `
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER NOT NULL PRIMARY KEY,
      name       TEXT    NOT NULL,
      applied_at BIGINT  NOT NULL
    )`,
};

/** What applyMigrations found and left: the schema version before and after. */
export interface MigrationResult {
  from: number;
  to: number;
}

/**
 * Brings the database up to the newest known version in one write transaction (so two processes
 * opening the same database at once do not both migrate: SQLite's IMMEDIATE lock, PostgreSQL's
 * write lock). Refuses a database whose version is newer than `migrations` knows: older code
 * writing to a newer schema could break it. `migrations` is a parameter only so tests can exercise
 * a failing migration.
 */
export function applyMigrations(db: SqlDatabase, migrations: readonly Migration[] = migrationsFor(db.dialect), now: () => number = Date.now): MigrationResult {
  assertOrdered(migrations);
  const known = migrations.length;
  return db.transaction(() => {
    db.exec(CREATE_SCHEMA_MIGRATIONS[db.dialect]);
    const current = currentVersion(db);
    if (current > known) throw newerSchema(db, current, known);
    const record = db.prepare<[number, string, number]>('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of migrations.slice(current)) {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, now());
    }
    return { from: current, to: known };
  });
}

/** The highest version recorded in `schema_migrations` (0 for a new database). */
export function currentVersion(db: SqlDatabase): number {
  const row = db.prepare<[], { version: number | null }>('SELECT max(version) AS version FROM schema_migrations').get();
  return row?.version ?? 0;
}

/** Whether `schema_migrations` exists, asked without creating it (its schema: PostgreSQL's search_path). */
const HAS_SCHEMA_MIGRATIONS: Readonly<Record<SqlDialect, string>> = {
  sqlite: `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`,
  postgres: `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'`,
};

/** The schema version of the database, changing nothing: 0 for an empty one. */
export function recordedVersion(db: SqlDatabase): number {
  const tables = db.prepare<[], number>(HAS_SCHEMA_MIGRATIONS[db.dialect]).pluck().get() ?? 0;
  return tables > 0 ? currentVersion(db) : 0;
}

/**
 * For a broker started without migrating (`serve --no-migrate`): refuses a schema older than this
 * code (someone must run `access-broker migrate`) or newer (as applyMigrations does).
 */
export function assertSchemaCurrent(db: SqlDatabase, migrations: readonly Migration[] = migrationsFor(db.dialect)): void {
  const current = recordedVersion(db);
  const known = migrations.length;
  if (current > known) throw newerSchema(db, current, known);
  if (current < known) {
    throw new AccessError(
      'store_incompatible',
      `the database "${db.name}" has schema version ${current}, but this broker needs version ${known}; ` +
        'run `access-broker migrate` with the same config (or start the broker without --no-migrate)',
    );
  }
}

function newerSchema(db: SqlDatabase, current: number, known: number): AccessError {
  return new AccessError(
    'store_incompatible',
    `the database "${db.name}" has schema version ${current}, but this broker knows versions up to ${known}; ` +
      `run the newer broker that wrote it, or restore a backup made for version ${known}`,
  );
}

/** A gap or reordering would make `slice(current)` skip or repeat a migration. */
function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migration "${migration.name}" has version ${migration.version} at position ${index}; versions must be 1, 2, 3 … in order`);
    }
  });
}
