// What the broker's main thread and the PostgreSQL worker (sync-worker.ts) say to each other.

import type { MessagePort } from 'node:worker_threads';

export interface WorkerSetup {
  url: string;
  /** Four bytes: 0 while a call is out, 1 once its answer is posted. */
  signal: SharedArrayBuffer;
  port: MessagePort;
  /** Connecting, each statement and each lock wait give up after this long. */
  timeoutMs: number;
  /** Shows in pg_stat_activity, so an operator can tell the brokers' sessions apart. */
  applicationName: string;
}

export type PostgresCall =
  | { op: 'query'; sql: string; params: unknown[]; rowMode?: 'array' }
  /** Takes a pooled client for the transaction and runs `sql` (BEGIN and the write lock) on it. */
  | { op: 'begin'; sql: string }
  /** Runs `sql` (COMMIT or ROLLBACK) on the transaction's client and gives it back. */
  | { op: 'end'; sql: string }
  | { op: 'close' };

export type PostgresAnswer =
  | { ok: true; rows: unknown[]; rowCount: number }
  | { ok: false; error: { message: string; code: string | null; constraint: string | null; detail: string | null } };
