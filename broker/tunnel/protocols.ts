// Which resource kinds have protocol steps (protocol.ts says what a step is). A registry of its
// own, so the protocols (postgres/) depend on the step interfaces and nothing depends back on them.

import type { ResourceKind } from '../config/types.js';
import { postgresProtocol } from './postgres/protocol.js';
import type { TunnelProtocol } from './protocol.js';

const PROTOCOLS: Partial<Record<ResourceKind, TunnelProtocol>> = {
  postgres: postgresProtocol,
};

/** The protocol steps of a resource kind; an empty object for kinds relayed as plain bytes. */
export function protocolFor(kind: ResourceKind): TunnelProtocol {
  return PROTOCOLS[kind] ?? {};
}
