// The brokers writing to this database (`broker_instances`, migration 8): one row per broker
// process, written when it starts, whose heartbeat_at the broker moves forward on a timer and whose
// stopped_at it sets at a clean shutdown. A broker that stopped, or whose heartbeat is older than
// the limit its peers apply, is lost: its open sessions are closed by whichever broker looks first
// (broker/broker-presence.ts, SessionStore.closeLost).

import type { Database } from './database.js';

export interface BrokerInstance {
  /** Random per process start: a restarted broker is a new instance. */
  id: string;
  host: string;
  pid: number;
  startedAt: number;
  heartbeatAt: number;
  /** Set by a clean shutdown; null while running (or after a crash). */
  stoppedAt: number | null;
}

interface Row {
  id: string;
  host: string;
  pid: number;
  started_at: number;
  heartbeat_at: number;
  stopped_at: number | null;
}

export class BrokerInstances {
  readonly #statements;

  constructor(db: Database) {
    this.#statements = {
      insert: db.prepare<[string, string, number, number, number]>(
        'INSERT INTO broker_instances (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)',
      ),
      heartbeat: db.prepare<[number, string]>('UPDATE broker_instances SET heartbeat_at = ? WHERE id = ? AND stopped_at IS NULL'),
      stop: db.prepare<[number, string]>('UPDATE broker_instances SET stopped_at = ? WHERE id = ? AND stopped_at IS NULL'),
      get: db.prepare<[string], Row>('SELECT id, host, pid, started_at, heartbeat_at, stopped_at FROM broker_instances WHERE id = ?'),
    };
  }

  register(instance: { id: string; host: string; pid: number }, at: number): void {
    this.#statements.insert.run(instance.id, instance.host, instance.pid, at, at);
  }

  /** Records that `id` is alive at `at`; false when it has been marked stopped (it must not come back). */
  heartbeat(id: string, at: number): boolean {
    return this.#statements.heartbeat.run(at, id).changes > 0;
  }

  stop(id: string, at: number): void {
    this.#statements.stop.run(at, id);
  }

  get(id: string): BrokerInstance | null {
    const row = this.#statements.get.get(id);
    if (!row) return null;
    return { id: row.id, host: row.host, pid: row.pid, startedAt: row.started_at, heartbeatAt: row.heartbeat_at, stoppedAt: row.stopped_at };
  }
}
