// One way for tests to build a parsed resource policy: every field the config loader always fills,
// at the loader's own defaults, so a unit test never runs with a field the real config has left
// undefined. Tests override what their scenario is about.

import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TTL_MS } from '../../broker/config/schema.js';
import type { ResourcePolicy } from '../../broker/config/types.js';

const HOUR = 3_600_000;

export function resourcePolicy(overrides: Partial<ResourcePolicy> & Pick<ResourcePolicy, 'name'>): ResourcePolicy {
  return {
    kind: 'postgres',
    description: null,
    target: { host: '127.0.0.1', port: 5432 },
    requesters: ['sg-eng'],
    approvers: ['sg-dba'],
    approvals: 1,
    maxDurationMs: 4 * HOUR,
    defaultDurationMs: HOUR,
    requestTtlMs: DEFAULT_REQUEST_TTL_MS,
    reason: 'optional',
    ticketPattern: null,
    autoApprove: [],
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
    database: null,
    user: null,
    targetTls: 'disable',
    targetCa: null,
    workloads: [],
    autoApproveWorkloads: [],
    credentials: [],
    ...overrides,
  };
}
