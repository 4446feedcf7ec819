// The Postgres tunnel's TargetWatch (../protocol.ts): reads the server's BackendKeyData beside the
// relay — its own 'data' listener on the target socket, removed once the key or the first
// ReadyForQuery went by, so the relay's path is untouched and later chunks cost nothing — and when
// the broker cuts the session, cancels the query the backend is running (cancel.ts).

import type net from 'node:net';
import { pgCancelledEntry } from '../../audit/session-entries.js';
import type { ResourcePolicy } from '../../config/types.js';
import type { NewSession, SessionEndReason } from '../../store/session-store.js';
import type { ServerSideEnd, TargetWatch } from '../protocol.js';
import { BackendKeyReader } from './backend-key.js';
import { cancelBackend } from './cancel.js';

export function watchBackendKey(target: net.Socket, policy: ResourcePolicy): TargetWatch {
  return new CancelOnCut(target, policy);
}

export class CancelOnCut implements TargetWatch {
  readonly #target: net.Socket;
  readonly #policy: ResourcePolicy;
  readonly #reader = new BackendKeyReader();

  constructor(target: net.Socket, policy: ResourcePolicy) {
    this.#target = target;
    this.#policy = policy;
    target.on('data', this.#onData);
  }

  async afterCut(session: NewSession, cut: SessionEndReason, at: number): Promise<ServerSideEnd | null> {
    this.stop();
    const key = this.#reader.key;
    // No key (the session never got past authentication, or the server offers no cancel): nothing runs.
    if (!key) return null;
    await cancelBackend(this.#policy, key);
    return {
      message: `cancelled the running query of backend ${key.pid} on cut`,
      fields: { session: session.id, resource: session.resource, backendPid: key.pid, cut },
      entry: pgCancelledEntry({ sessionId: session.id, user: session.user, resource: session.resource, at, backendPid: key.pid, cut }),
    };
  }

  stop(): void {
    this.#target.off('data', this.#onData);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#reader.push(chunk);
    if (this.#reader.done) this.stop();
  };
}
