// The `pg` driver for tests, typed by hand (pg ships no types and @types/pg is not installed), and
// COPY both ways without pg-copy-streams: pg hands any query object with a `submit` method the
// protocol messages of its turn, which is all COPY needs (CopyData in, CopyData/CopyDone out).

import type net from 'node:net';
// @ts-expect-error -- pg has no type declarations; typed by hand below.
import pg from 'pg';

export interface PgConnectOptions {
  host: string;
  port: number;
  user: string;
  database: string;
  /** Shows in pg_stat_activity, so a test can find its own sessions. */
  application_name?: string;
}

export interface PgClient {
  connect(): Promise<void>;
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
  query(submittable: CopyOut | CopyIn): void;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): void;
}

const { Client } = pg as unknown as { Client: new (options: PgConnectOptions) => PgClient };

/** A connected client; connection errors after that are the caller's to notice through queries. */
export async function connectPg(options: PgConnectOptions): Promise<PgClient> {
  const client = new Client(options);
  // A server or tunnel that goes away would otherwise emit an unhandled 'error'.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** What pg passes a submittable: its connection to the server. */
interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: net.Socket;
}

/** The row count of a COPY's command tag, "COPY 50000". */
function copyRows(tag: string): number {
  const match = /^COPY (\d+)$/.exec(tag);
  if (!match) throw new Error(`unexpected command tag for COPY: ${tag}`);
  return Number(match[1]);
}

/** Base of both directions: settles `done` with the row count at ReadyForQuery, or the server's error. */
abstract class CopyQuery {
  readonly done: Promise<number>;
  #rows = 0;
  #resolve!: (rows: number) => void;
  #reject!: (error: Error) => void;

  constructor(readonly text: string) {
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  submit(connection: PgConnection): void {
    connection.query(this.text);
  }

  handleCommandComplete(message: { text: string }): void {
    this.#rows = copyRows(message.text);
  }

  handleReadyForQuery(): void {
    this.#resolve(this.#rows);
  }

  // pg clears its active query before calling this, so ReadyForQuery never reaches us after an error.
  handleError(error: Error): void {
    this.#reject(error);
  }
}

/** `COPY … TO STDOUT`: every CopyData chunk goes to `onChunk`; `done` resolves with the rows copied. */
export class CopyOut extends CopyQuery {
  constructor(
    text: string,
    readonly onChunk: (chunk: Buffer) => void,
  ) {
    super(text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    this.onChunk(message.chunk);
  }
}

/**
 * `COPY … FROM STDIN`: sends what `chunks` yields, waiting for the socket to drain between writes
 * so a big copy is never buffered whole; `done` resolves with the rows the server stored.
 */
export class CopyIn extends CopyQuery {
  constructor(
    text: string,
    readonly chunks: Iterable<Buffer>,
  ) {
    super(text);
  }

  handleCopyInResponse(connection: PgConnection): void {
    void this.#send(connection);
  }

  async #send(connection: PgConnection): Promise<void> {
    for (const chunk of this.chunks) {
      connection.sendCopyFromChunk(chunk);
      if (connection.stream.writableNeedDrain) await new Promise((resolve) => connection.stream.once('drain', resolve));
    }
    connection.endCopyFrom();
  }
}
