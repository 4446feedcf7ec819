// The worker thread behind SyncPostgresConnection (sync-connection.ts): node-postgres with a pool,
// answering one call at a time. The broker's main thread posts a call on its port and waits on the
// shared signal; this thread runs it, posts the answer and wakes it. A transaction pins one pooled
// client from BEGIN to COMMIT or ROLLBACK; anything else runs on whichever client the pool gives.
// A client whose connection broke is discarded by the pool, so the next call reconnects.

import { type MessagePort, workerData } from 'node:worker_threads';
// @ts-expect-error -- pg ships no type declarations; the little used here is typed below.
import pg from 'pg';
import type { PostgresAnswer, PostgresCall, WorkerSetup } from './sync-protocol.js';

interface QueryResult {
  rows: unknown[];
  rowCount: number | null;
}
interface QueryConfig {
  text: string;
  values: unknown[];
  name?: string;
  rowMode?: 'array';
}
interface PoolClient {
  query(config: QueryConfig): Promise<QueryResult>;
  release(destroy?: Error | boolean): void;
}
interface Pool {
  connect(): Promise<PoolClient>;
  query(config: QueryConfig): Promise<QueryResult>;
  on(event: 'error', listener: (error: Error) => void): void;
  end(): Promise<void>;
}

const setup = workerData as WorkerSetup;
const port: MessagePort = setup.port;
const signal = new Int32Array(setup.signal);

// Counts and sums come back as int8 or numeric; everything the stores count fits a double exactly.
pg.types.setTypeParser(20, Number);
pg.types.setTypeParser(1700, Number);

const pool: Pool = new pg.Pool({
  connectionString: setup.url,
  // The main thread asks one thing at a time: one connection serves it, a second is never waited for.
  max: 1,
  connectionTimeoutMillis: setup.timeoutMs,
  statement_timeout: setup.timeoutMs,
  lock_timeout: setup.timeoutMs,
  application_name: setup.applicationName,
});
// An idle client losing its server is reported here, not to a caller: the pool drops it.
pool.on('error', () => undefined);

let pinned: PoolClient | null = null;

port.on('message', (call: PostgresCall) => {
  void answer(call).then((reply) => {
    port.postMessage(reply);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  });
});

async function answer(call: PostgresCall): Promise<PostgresAnswer> {
  try {
    switch (call.op) {
      case 'begin':
        await begin(call.sql);
        return { ok: true, rows: [], rowCount: 0 };
      case 'end':
        return await end(call.sql);
      case 'query': {
        const config = { text: call.sql, values: call.params, ...preparedName(call), ...(call.rowMode ? { rowMode: call.rowMode } : {}) };
        const result = await (pinned ?? pool).query(config);
        return { ok: true, rows: result.rows, rowCount: result.rowCount ?? 0 };
      }
      case 'close':
        await pool.end();
        return { ok: true, rows: [], rowCount: 0 };
    }
  } catch (error) {
    return { ok: false, error: describe(error) };
  }
}

/**
 * A statement with parameters is prepared once per connection under a name derived from its text
 * (node-postgres then sends only Bind/Execute): the stores run the same few dozen texts all day.
 */
const names = new Map<string, string>();
function preparedName(call: Extract<PostgresCall, { op: 'query' }>): { name?: string } {
  if (call.params.length === 0) return {};
  let name = names.get(call.sql);
  if (name === undefined) {
    name = `access_${names.size + 1}`;
    names.set(call.sql, name);
  }
  return { name };
}

async function begin(sql: string): Promise<void> {
  if (pinned) throw new Error('a transaction is already open on this connection');
  const client = await pool.connect();
  try {
    await client.query({ text: sql, values: [] });
    pinned = client;
  } catch (error) {
    client.release(error instanceof Error ? error : true);
    throw error;
  }
}

/** COMMIT or ROLLBACK, then the client goes back to the pool (destroyed if the end itself failed). */
async function end(sql: string): Promise<PostgresAnswer> {
  const client = pinned;
  pinned = null;
  if (!client) throw new Error('no transaction is open on this connection');
  try {
    await client.query({ text: sql, values: [] });
    client.release();
    return { ok: true, rows: [], rowCount: 0 };
  } catch (error) {
    client.release(error instanceof Error ? error : true);
    throw error;
  }
}

function describe(error: unknown): Extract<PostgresAnswer, { ok: false }>['error'] {
  if (!(error instanceof Error)) return { message: String(error), code: null, constraint: null, detail: null };
  const fields = error as Error & { code?: unknown; constraint?: unknown; detail?: unknown };
  return {
    message: error.message,
    code: typeof fields.code === 'string' ? fields.code : null,
    constraint: typeof fields.constraint === 'string' ? fields.constraint : null,
    detail: typeof fields.detail === 'string' ? fields.detail : null,
  };
}
