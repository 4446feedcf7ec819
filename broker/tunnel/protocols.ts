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

/** Whether the broker relays `kind` as plain bytes: no protocol steps and no statement log read the target. */
export function relayedAsPlainBytes(kind: ResourceKind): boolean {
  return PROTOCOLS[kind] === undefined && CAPTURES[kind] === undefined;
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
