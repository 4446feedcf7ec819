// A RequestService over the real SQLite store (in memory) with a fake directory, a settable clock
// and a recording log: shared by the service, scheduler, routes and events tests.

import type { Logger } from '../../../broker/log.js';
import type { Principal } from '../../../broker/auth/principal.js';
import type { BrokerConfig, ResourcePolicy } from '../../../broker/config/types.js';
import type { Directory } from '../../../broker/identity/directory.js';
import { RequestService } from '../../../broker/requests/service.js';
import type { AccessRequest, RequestChange } from '../../../broker/requests/types.js';
import { openDatabase, type Database } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { AccessError } from '../../../shared/errors.js';
import type { GroupRef } from '../../../shared/wire.js';
import { resourcePolicy } from '../../helpers/resource-policy.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
/** 2025-03-04 09:00 UTC */
export const T0 = Date.UTC(2025, 2, 4, 9, 0);

export const g = {
  eng: { id: 'g-eng', displayName: 'sg-eng' },
  dba: { id: 'g-dba', displayName: 'sg-dba' },
  platform: { id: 'g-plat', displayName: 'sg-platform' },
  audit: { id: 'g-audit', displayName: 'sg-audit' },
  oncall: { id: 'g-oncall', displayName: 'sg-oncall' },
  secret: { id: 'g-secret', displayName: 'sg-secret' },
} satisfies Record<string, GroupRef>;

/** Who is in which group, as the directory (Graph) says right now. */
export function memberships(): Map<string, GroupRef[]> {
  return new Map<string, GroupRef[]>([
    ['alice', [g.eng]], // requester
    ['bob', [g.dba]], // approver
    ['carol', [g.dba]], // approver
    ['erin', [g.platform]], // admin
    ['ivy', [g.audit]], // auditor
    ['oscar', [g.eng, g.oncall]], // auto-approved requester
    ['mallory', []], // nobody
    ['sam', [g.secret]], // requester and approver of secret-db only
  ]);
}

export function principal(oid: string, kind: Principal['kind'] = 'user'): Principal {
  return {
    kind,
    oid,
    tenantId: 't1',
    upn: kind === 'user' ? `${oid}@contoso.com` : null,
    name: oid,
    appId: 'cli',
    scopes: kind === 'user' ? ['user_impersonation'] : [],
    roles: kind === 'app' ? ['Access.Automation'] : [],
    groupsClaim: null,
    groupOverage: false,
    expiresAt: new Date('2100-01-01T00:00:00Z'),
    signIn: { amr: ['pwd'], acrs: [], authTime: null },
    clientAddress: '127.0.0.1',
  };
}

export function resource(name: string, over: Partial<ResourcePolicy> = {}): ResourcePolicy {
  return resourcePolicy({ name, requestTtlMs: HOUR, autoApprove: ['sg-oncall'], ...over });
}

export function config(resources: ResourcePolicy[] = defaultResources()): BrokerConfig {
  return {
    source: 'test',
    tenant: null,
    auditors: ['sg-audit'],
    admins: ['sg-platform'],
    groupCacheSeconds: 60,
    membershipRecheckSeconds: 30,
    membershipGraceSeconds: 120,
    devDirectory: null,
    resources,
  };
}

export function defaultResources(): ResourcePolicy[] {
  return [
    resource('prod-db'),
    resource('two-key', { approvals: 2, autoApprove: [] }),
    resource('secret-db', { requesters: ['sg-secret'], approvers: ['sg-secret'] }),
  ];
}

/**
 * A directory with a cache that can be stale: `memberGroups` answers from `cached` when an entry is
 * there (as CachedDirectory does within its TTL), `fresh` always answers from `current`.
 */
export class FakeDirectory implements Directory {
  readonly current = memberships();
  readonly cached = new Map<string, GroupRef[]>();
  freshReads = 0;
  /** When set, every fresh read waits for it (to line up concurrent reviews). */
  gate: Promise<void> | null = null;
  /** Users whose lookups fail as in a Graph outage. */
  readonly failing = new Set<string>();

  async memberGroups(oid: string): Promise<GroupRef[]> {
    this.#check(oid);
    return this.cached.get(oid) ?? this.current.get(oid) ?? [];
  }

  async fresh(oid: string): Promise<GroupRef[]> {
    this.freshReads += 1;
    if (this.gate) await this.gate;
    this.#check(oid);
    return this.current.get(oid) ?? [];
  }

  #check(oid: string): void {
    if (this.failing.has(oid)) throw new AccessError('directory_unavailable', `cannot read the groups of ${oid} from Microsoft Graph`);
  }
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

export function recordingLog(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      lines.push({ level, message, fields });
    };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Harness {
  db: Database;
  store: SqlRequestStore;
  service: RequestService;
  directory: FakeDirectory;
  log: ReturnType<typeof recordingLog>;
  clock: { now: number };
  /** Every committed change, in order. */
  changes: Array<{ id: string; change: RequestChange; state: AccessRequest['state'] }>;
  config: BrokerConfig;
}

export function harness(options: { resources?: ResourcePolicy[]; now?: () => number; db?: Database } = {}): Harness {
  const db = options.db ?? openDatabase(':memory:');
  const store = new SqlRequestStore(db);
  const directory = new FakeDirectory();
  const log = recordingLog();
  const clock = { now: T0 };
  const cfg = config(options.resources);
  let n = 0;
  const service = new RequestService({
    config: cfg,
    store,
    directory,
    log,
    now: options.now ?? (() => clock.now),
    newId: () => `req${String(++n).padStart(3, '0')}`,
  });
  const changes: Harness['changes'] = [];
  service.onChange((request, list) => {
    for (const change of list) changes.push({ id: request.id, change, state: request.state });
  });
  return { db, store, service, directory, log, clock, changes, config: cfg };
}
