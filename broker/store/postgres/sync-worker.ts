// The worker thread behind SyncPostgresConnection (sync-connection.ts): node-postgres with a pool,
// answering one call at a time. The broker's main thread posts a call on its port and waits on the
// shared signal; this thread runs it, posts the answer and wakes it. Calls run on one connection
// kept out of the pool; one that broke is discarded and the next call connects again.

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
  on(event: 'error', listener: (error: Error) => void): void;
}
interface Pool {
  connect(): Promise<PoolClient>;
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

/**
 * The connection every call runs on, checked out of the pool and kept (a pool.query per call costs
 * a checkout each time). A connection that broke is given back destroyed and the next call takes
 * a fresh one.
 */
let client: PoolClient | null = null;
/** Between BEGIN and COMMIT/ROLLBACK. */
let inTransaction = false;
/** The connection broke inside the open transaction: the server rolled it back, so nothing more of it may run, least of all a COMMIT. */
let transactionLost = false;

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
        if (inTransaction) throw new Error('a transaction is already open on this connection');
        inTransaction = true;
        try {
          await run({ text: call.sql, values: [] });
        } catch (error) {
          // BEGIN ran but taking the write lock failed (timed out): leave no aborted transaction behind.
          await end('ROLLBACK').catch(() => undefined);
          throw error;
        }
        return { ok: true, rows: [], rowCount: 0 };
      case 'end':
        return await end(call.sql);
      case 'query': {
        if (transactionLost) throw new Error('the connection to the database was lost in the middle of this transaction, which the server rolled back');
        const result = await run({ text: call.sql, values: call.params, ...preparedName(call), ...(call.rowMode ? { rowMode: call.rowMode } : {}) });
        return { ok: true, rows: result.rows, rowCount: result.rowCount ?? 0 };
      }
      case 'close':
        client?.release();
        client = null;
        await pool.end();
        return { ok: true, rows: [], rowCount: 0 };
    }
  } catch (error) {
    return { ok: false, error: describe(error) };
  }
}

/** Runs `config` on the kept connection; a connection that fails without a server error is discarded. */
async function run(config: QueryConfig): Promise<QueryResult> {
  client ??= await checkOut();
  const running = client;
  try {
    return await running.query(config);
  } catch (error) {
    if (endsConnection(error)) discard(running, error);
    throw error;
  }
}

/** A connection to keep; losing it while idle (the server restarted, the network cut) discards it. */
async function checkOut(): Promise<PoolClient> {
  const taken = await pool.connect();
  taken.on('error', (error) => discard(taken, error));
  return taken;
}

/** Gives a broken connection back to be destroyed, once; the next call connects again. */
function discard(taken: PoolClient, error: unknown): void {
  if (client !== taken) return;
  client = null;
  if (inTransaction) transactionLost = true;
  taken.release(error instanceof Error ? error : true);
}

/** COMMIT or ROLLBACK. After a lost connection only the rollback "succeeds": the server already did it. */
async function end(sql: string): Promise<PostgresAnswer> {
  if (!inTransaction) throw new Error('no transaction is open on this connection');
  const lost = transactionLost;
  inTransaction = false;
  transactionLost = false;
  if (lost) {
    if (sql === 'ROLLBACK') return { ok: true, rows: [], rowCount: 0 };
    throw new Error('the connection to the database was lost in the middle of this transaction, which the server rolled back');
  }
  await run({ text: sql, values: [] });
  return { ok: true, rows: [], rowCount: 0 };
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

/**
 * Whether the connection is gone after `error`: no SQLSTATE (the socket closed, a timeout), a
 * connection exception (class 08), or the server ending the session (57P01–57P03: terminated,
 * shutting down, restarting). Any other server error leaves the connection usable.
 */
function endsConnection(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || /^57P0[123]$/.test(code);
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
