// The audit log of a running broker, in one object: the chain's append path (for the request
// service and the tunnel), the batched appender (for Postgres queries), the sign-in recorder (for
// authenticate), the auditor queries, live waiting for new entries, and verify. Built by
// assembleBroker (broker/assemble.ts) on the broker's one database connection.

import { AccessError } from '../../shared/errors.js';
import type { Logger } from '../log.js';
import type { Principal } from '../auth/principal.js';
import type { BrokerConfig } from '../config/types.js';
import { callerGroups, inAnyGroup, type Directory } from '../identity/directory.js';
import type { Database } from '../store/database.js';
import { groupList } from '../requests/wording.js';
import { SqlAuditLog } from './audit-log.js';
import { BatchedAppender } from './batch-appender.js';
import { AuditQueries } from '../store/audit-queries.js';
import { SignInRecorder } from './signins.js';
import { verifyChainAsync, type VerifyResult } from './verify.js';

export interface AuditOptions {
  db: Database;
  /** Its `auditors` say who may read the log. */
  config: BrokerConfig;
  directory: Directory;
  now: () => number;
  logger: Logger;
  /** Batching of high-volume entries; defaults in batch-appender.ts. */
  batch?: { flushIntervalMs?: number; maxBatch?: number; maxPending?: number };
}

export class Audit {
  /** Appends in the caller's transaction (request changes, sessions). */
  readonly log: SqlAuditLog;
  /** Appends in batches (Postgres queries). */
  readonly batch: BatchedAppender;
  readonly signins: SignInRecorder;
  readonly queries: AuditQueries;
  readonly #db: Database;
  readonly #config: BrokerConfig;
  readonly #directory: Directory;
  readonly #waiters = new Set<() => void>();
  readonly #stopListening: () => void;
  #verifying: Promise<VerifyResult> | null = null;
  #closed = false;

  constructor(options: AuditOptions) {
    this.#db = options.db;
    this.#config = options.config;
    this.#directory = options.directory;
    this.log = new SqlAuditLog(options.db);
    this.batch = new BatchedAppender({ log: this.log, logger: options.logger, now: options.now, ...options.batch });
    this.signins = new SignInRecorder(this.log, options.now);
    this.queries = new AuditQueries(options.db);
    this.#stopListening = this.log.onAppend(() => this.#wakeWaiters());
  }

  /** Long polls parked in waitForEntries (for logs and tests). */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Throws `not_an_auditor` (403) unless the caller is a person in one of the auditor groups now. */
  async requireAuditor(principal: Principal): Promise<void> {
    const groups = await callerGroups(this.#directory, principal);
    if (inAnyGroup(groups, this.#config.auditors)) return;
    throw new AccessError(
      'not_an_auditor',
      `Only members of the auditor groups (${groupList(this.#config.auditors, this.#config.groupLabels)}) may read the audit log; ` +
        `${principal.upn ?? principal.oid} is not in any of them. Ask an admin to add you to one of those groups.`,
    );
  }

  /**
   * Resolves once an entry after `afterSeq` is committed, or after `timeoutMs`, or when `signal`
   * aborts (the client went away): the long poll behind `access audit events --follow`. Returns
   * whether there is something new.
   */
  async waitForEntries(afterSeq: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    // Real time, not the broker's clock: this is how long an HTTP request stays open.
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // After close the database is gone; the waiting request answers with what it had.
      if (this.#closed) return false;
      if (this.queries.headSeq() > afterSeq) return true;
      const remaining = deadline - performance.now();
      if (remaining <= 0 || signal?.aborted) return false;
      await this.#nextAppend(remaining, signal);
    }
  }

  /** Recomputes the chain without blocking the broker; concurrent callers share one run. */
  verify(): Promise<VerifyResult> {
    this.#verifying ??= verifyChainAsync(this.#db).finally(() => {
      this.#verifying = null;
    });
    return this.#verifying;
  }

  /** Writes what is batched and releases waiters; call before closing the database. */
  close(): void {
    this.batch.close();
    this.#closed = true;
    this.#stopListening();
    this.#wakeWaiters();
  }

  #nextAppend(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done);
      this.#waiters.add(done);
    });
  }

  #wakeWaiters(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
