// Which resource kinds have protocol steps (protocol.ts says what a step is). A registry of its
// own, so the protocols (postgres/, mysql/) depend on the step interfaces and nothing depends back on them.

import type { ResourceKind, ResourcePolicy } from '../config/types.js';
import type { NewSession } from '../store/session-store.js';
import type { CaptureOptions, StatementCapture } from './capture.js';
import { MysqlCapture } from './mysql/session-capture.js';
import { mysqlProtocol } from './mysql/protocol.js';
import { postgresProtocol } from './postgres/protocol.js';
import { SessionCapture } from './postgres/session-capture.js';
import type { TunnelObserver, TunnelProtocol } from './protocol.js';

const PROTOCOLS: Partial<Record<ResourceKind, TunnelProtocol>> = {
  postgres: postgresProtocol,
  mysql: mysqlProtocol,
};

/** The protocol steps of a resource kind; an empty object for kinds relayed as plain bytes. */
export function protocolFor(kind: ResourceKind): TunnelProtocol {
  return PROTOCOLS[kind] ?? {};
}

/**
 * Kinds the broker relays as plain bytes: no protocol steps, statement log or gateway (http, grpc:
 * tunnel/http/) reads the target, so the relay may read it into reused slabs (target-reads.ts). Named,
 * not derived: a new kind is not plain bytes until someone says so.
 */
const PLAIN_BYTES_KINDS: ReadonlySet<ResourceKind> = new Set<ResourceKind>(['tcp', 'ssh']);

/** Whether the broker relays `kind` as plain bytes (PLAIN_BYTES_KINDS). */
export function relayedAsPlainBytes(kind: ResourceKind): boolean {
  return PLAIN_BYTES_KINDS.has(kind);
}

/** The statement log of each kind whose protocol the broker reads. */
const CAPTURES: Partial<Record<ResourceKind, (session: NewSession, policy: ResourcePolicy, options: CaptureOptions) => StatementCapture>> = {
  postgres: (session, _policy, options) => new SessionCapture(session, options),
  mysql: (session, policy, options) => new MysqlCapture(session, policy, options),
};

/** The tunnel endpoint's `observe` hook: a statement log for every postgres and mysql tunnel, none for other kinds. */
export function statementCapture(options: CaptureOptions): (session: NewSession, policy: ResourcePolicy) => TunnelObserver | null {
  return (session, policy) => CAPTURES[policy.kind]?.(session, policy, options) ?? null;
}
