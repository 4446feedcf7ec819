// Benchmark (not a test): the audit log at a million entries.
//
//   npx tsc -p bench/tsconfig.json && node dist/bench-build/bench/audit-scale.js [entries] [file]
//
// Writes `entries` (default 1,000,000) realistic entries into a fresh SQLite file through the real
// paths — RequestService for requests and reviews (one transaction per change), the audited
// session store for tunnel sessions, the BatchedAppender for Postgres queries, the sign-in
// recorder — spread over the last 30 days across 200 users and 20 resources. Then it times, on the
// same file: a plain full scan (the reference), filtered `audit sessions` queries, an `events`
// page, a `show` of a busy session, and a full verify; and prints each with its ratio to the
// reference. Figures are from one run on whatever machine runs it: read them, do not assert them.

import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { assembleBroker, type AssembledBroker } from '../broker/assemble.js';
import type { Audit } from '../broker/audit/audit.js';
import { pgQueryEntry } from '../broker/audit/session-entries.js';
import { verifyChain, verifyChainAsync } from '../broker/audit/verify.js';
import type { Logger } from '../broker/log.js';
import type { Principal } from '../broker/auth/principal.js';
import type { BrokerConfig, ResourcePolicy } from '../broker/config/types.js';
import type { Directory } from '../broker/identity/directory.js';
import { openDatabase } from '../broker/store/database.js';
import type { GroupRef } from '../shared/wire.js';

const TARGET = Number(process.argv[2] ?? 1_000_000);
const FILE = process.argv[3] ?? path.join(os.tmpdir(), `audit-scale-${process.pid}.db`);
const USERS = 200;
const RESOURCES = 20;
const SPAN_MS = 30 * 24 * 3_600_000;
const END = Date.now();
const START = END - SPAN_MS;
/** What one generated incident appends on average (measured): paces the clock over the span. */
const ENTRIES_PER_INCIDENT = 60;

/** Deterministic pseudo-random numbers (mulberry32), so two runs generate the same log. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = random(42);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

const eng: GroupRef = { id: 'g-eng', displayName: 'sg-eng' };
const dba: GroupRef = { id: 'g-dba', displayName: 'sg-dba' };
const oncall: GroupRef = { id: 'g-oncall', displayName: 'sg-oncall' };

const users = Array.from({ length: USERS }, (_, i) => {
  const n = String(i + 1).padStart(3, '0');
  return { oid: `00000000-0000-0000-0000-000000000${n}`, upn: `user${n}@contoso.com` };
});
const approvers = users.slice(0, 10);
const groups = new Map<string, GroupRef[]>(users.map((u, i) => [u.oid, i < 10 ? [eng, dba] : i % 7 === 0 ? [eng, oncall] : [eng]]));

const resources: ResourcePolicy[] = Array.from({ length: RESOURCES }, (_, i) => ({
  name: i < 14 ? `pg-${String(i + 1).padStart(2, '0')}` : `tcp-${String(i - 13).padStart(2, '0')}`,
  kind: i < 14 ? 'postgres' : 'tcp',
  description: null,
  target: { host: '10.0.0.1', port: 5432 + i },
  requesters: ['sg-eng'],
  approvers: ['sg-dba'],
  approvals: 1,
  maxDurationMs: 8 * 3_600_000,
  defaultDurationMs: 3_600_000,
  requestTtlMs: 3_600_000,
  reason: 'optional',
  ticketPattern: null,
  autoApprove: ['sg-oncall'],
  maxConnections: 20,
  idleTimeoutMs: 30 * 60_000,
  database: null,
  user: null,
  targetTls: 'disable',
  targetCa: null,
  credentials: [],
  workloads: [],
  autoApproveWorkloads: [],
}));

const config: BrokerConfig = {
  source: 'bench',
  tenant: null,
  resources,
  auditors: ['sg-audit'],
  admins: [],
  groupCacheSeconds: 60,
  membershipRecheckSeconds: 30,
  membershipGraceSeconds: 120,
  devDirectory: null,
};

const directory: Directory = { memberGroups: async (oid) => groups.get(oid) ?? [] };
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: (message, fields) => console.error(message, fields) };

/** The broker as `access-broker` builds it (assemble.ts), on the bench's file and clock; no tokens are verified. */
function broker(now: () => number, newId?: () => string): AssembledBroker {
  return assembleBroker({
    config,
    signIn: { tenantId: 't', authority: 'https://login.invalid/t', clientId: 'cli', scopes: [], brokerVersion: 'bench' },
    verifier: { verify: () => Promise.reject(new Error('the benchmark verifies no tokens')) },
    directory,
    log: quiet,
    db: openDatabase(FILE),
    now,
    ...(newId ? { newId } : {}),
  });
}

const SQL_SAMPLES = [
  'SELECT id, email, created_at FROM users WHERE id = $1',
  "SELECT count(*) FROM orders WHERE status = 'stuck' AND updated_at < now() - interval '1 hour'",
  'UPDATE orders SET status = $1 WHERE id = $2',
  'BEGIN',
  'COMMIT',
  'SELECT * FROM pg_stat_activity WHERE state <> $1',
  'EXPLAIN ANALYZE SELECT * FROM invoices JOIN customers USING (customer_id) WHERE invoices.total > 1000',
];

function person(user: { oid: string; upn: string }): Principal {
  return {
    kind: 'user',
    oid: user.oid,
    tenantId: 't',
    upn: user.upn,
    name: user.upn,
    appId: 'cli',
    scopes: ['user_impersonation'],
    roles: [],
    groupsClaim: null,
    groupOverage: false,
    expiresAt: new Date(END + 3_600_000),
    signIn: { amr: ['pwd'], acrs: [], authTime: null },
    clientAddress: '127.0.0.1',
  };
}

async function generate(): Promise<{ entries: number; seconds: number; sessions: number; requests: number }> {
  await rm(FILE, { force: true });
  const clock = { now: START };
  let ids = 0;
  const assembled = broker(
    () => clock.now,
    () => `req${String(++ids).padStart(7, '0')}`,
  );
  const { service, audit, sessions: sessionStore } = assembled;
  // One "incident" (request → sessions → queries) at a time; each starts in its share of the time
  // left (nextIncident), so the log spreads evenly over the 30 days.
  const started = performance.now();
  let sessions = 0;
  let requests = 0;
  while (audit.queries.headSeq() + audit.batch.pending < TARGET) {
    const incidentStart = clock.now;
    const user = pick(users.slice(10));
    const who = person(user);
    const resource = pick(resources);
    audit.signins.seen(who, `token-${user.oid}-${Math.floor(clock.now / 3_600_000)}`);
    const request = await service.create(who, { resource: resource.name, duration: '2h', reason: `INC-${1000 + requests}` });
    requests += 1;
    clock.now += 60_000;
    if (request.state === 'pending') {
      const approver = person(pick(approvers));
      audit.signins.seen(approver, `token-${approver.oid}-${Math.floor(clock.now / 3_600_000)}`);
      if (rand() < 0.05) {
        await service.review(approver, request.id, 'deny', 'use the replica');
        clock.now = nextIncident(incidentStart, clock.now, audit);
        continue;
      }
      await service.review(approver, request.id, 'approve', null);
    }
    const sessionCount = 1 + Math.floor(rand() * 3);
    for (let s = 0; s < sessionCount; s++) {
      const id = `${request.id}-s${s}`;
      const opened = clock.now;
      sessionStore.open({
        id,
        requestId: request.id,
        user,
        resource: resource.name,
        clientAddress: '10.1.2.3',
        target: `10.0.0.1:${resource.target.port}`,
        startedAt: opened,
      });
      sessions += 1;
      const queries = resource.kind === 'postgres' ? Math.floor(rand() * 80) : 0;
      for (let q = 0; q < queries; q++) {
        clock.now += 200;
        audit.batch.add(pgQueryEntry({ sessionId: id, user, resource: resource.name, at: clock.now }, { sql: pick(SQL_SAMPLES), protocol: 'extended' }));
      }
      clock.now += 10_000;
      sessionStore.close(id, {
        endedAt: clock.now,
        bytesUp: Math.floor(rand() * 1e6),
        bytesDown: Math.floor(rand() * 1e8),
        reason: 'clientClosed',
        detail: null,
      });
      // Let the batch flush on its own (setImmediate at maxBatch, or its interval).
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (rand() < 0.2) await service.revoke(who, request.id, 'done');
    clock.now = nextIncident(incidentStart, clock.now, audit);
    if (requests % 2_000 === 0) process.stdout.write(`  … ${audit.queries.headSeq().toLocaleString()} entries\n`);
  }
  // Whatever is still open expires.
  clock.now = END;
  service.sweep();
  // What is still batched is written by close; after it the database is closed.
  const entries = audit.queries.headSeq() + audit.batch.pending;
  await assembled.close();
  return { entries, seconds: (performance.now() - started) / 1000, sessions, requests };
}

/** When the next incident starts: its even share of the time left, and never before the last one ended. */
function nextIncident(start: number, now: number, audit: Audit): number {
  const incidentsLeft = Math.max(1, (TARGET - audit.queries.headSeq() - audit.batch.pending) / ENTRIES_PER_INCIDENT);
  return Math.min(END - 1, Math.max(now, Math.floor(start + (END - start) / incidentsLeft)));
}

function time<T>(label: string, reference: number | null, fn: () => T): { ms: number; value: T } {
  const from = performance.now();
  const value = fn();
  const took = performance.now() - from;
  const ratio = reference === null ? '' : `  (${(took / reference).toFixed(2)}× the full scan)`;
  console.log(`  ${label.padEnd(58)} ${took.toFixed(1).padStart(9)} ms${ratio}`);
  return { ms: took, value };
}

async function measure(): Promise<void> {
  const assembled = broker(() => END);
  const { audit } = assembled;
  // A second connection for the reference scans and the chain: the raw SQL the figures compare to.
  const db = openDatabase(FILE);
  const week = END - 7 * 24 * 3_600_000;
  // The busiest user and resource of the week, so the filtered queries have something to find.
  const busiest = db
    .prepare<[number], { user_oid: string; user_upn: string; resource: string }>(
      'SELECT user_oid, user_upn, resource FROM sessions WHERE started_at >= ? GROUP BY user_oid, resource ORDER BY count(*) DESC LIMIT 1',
    )
    .get(week);
  const user = { oid: busiest?.user_oid ?? '', upn: busiest?.user_upn ?? '' };
  const resource = busiest?.resource ?? '';
  // Warm the page cache the same way for every figure: one scan before the timings.
  db.prepare('SELECT sum(length(body)) FROM audit_log').pluck().get();

  console.log('\nreference');
  const scan = time('full scan: SELECT sum(length(body)) FROM audit_log', null, () => db.prepare('SELECT sum(length(body)) FROM audit_log').pluck().get());
  time('SELECT count(*) FROM audit_log', scan.ms, () => db.prepare('SELECT count(*) FROM audit_log').pluck().get());

  console.log('\naudit sessions (100 newest at most)');
  for (const [label, query] of [
    ['one user (oid) + one resource + last 7 days', { user: user.oid, resource, since: week }],
    ['one user (UPN, any case) + last 7 days', { user: user.upn.toUpperCase(), since: week }],
    ['one resource + last 7 days', { resource, since: week }],
    ['last 7 days, no other filter', { since: week }],
  ] as const) {
    const { value } = time(label, scan.ms, () => audit.queries.sessions(query));
    console.log(`  ${''.padEnd(58)} ${String(value.length).padStart(9)} sessions`);
  }

  console.log('\nevents and show');
  const first = time('events --since 7d (first page of 1,000)', scan.ms, () => audit.queries.events({ since: week }));
  time('events after_seq (a page of 10,000 from the middle)', scan.ms, () =>
    audit.queries.events({ afterSeq: Math.floor(first.value.headSeq / 2), limit: 10_000 }),
  );
  const busy = db.prepare<[], string>("SELECT subject FROM audit_log WHERE type = 'session.closed' ORDER BY seq DESC LIMIT 1").pluck().get() ?? '';
  time(`show ${busy} (a session and its request)`, scan.ms, () => audit.queries.show(busy));

  console.log('\nverify');
  const sync = time('verifyChain (synchronous)', scan.ms, () => verifyChain(db));
  console.log(`  ${JSON.stringify(sync.value)}`);
  const from = performance.now();
  const result = await verifyChainAsync(db);
  const took = performance.now() - from;
  console.log(
    `  ${'verifyChainAsync (yields every 20,000 rows)'.padEnd(58)} ${took.toFixed(1).padStart(9)} ms  (${(took / scan.ms).toFixed(2)}× the full scan)  ok=${result.ok}`,
  );

  console.log('\nappend cost on the generated file');
  const user42 = { oid: user.oid, upn: user.upn };
  const query = (n: number) =>
    pgQueryEntry({ sessionId: 'bench', user: user42, resource: 'pg-01', at: END + n }, { sql: pick(SQL_SAMPLES), protocol: 'simple' });
  const BATCHED = 100_000;
  const batched = time(`${BATCHED.toLocaleString()} batched appends (flushes of 1,000)`, null, () => {
    for (let n = 0; n < BATCHED; n++) {
      audit.batch.add(query(n));
      if (audit.batch.pending >= 1_000) audit.batch.flush();
    }
    audit.batch.flush();
  });
  console.log(
    `  ${''.padEnd(58)} ${Math.round(BATCHED / (batched.ms / 1000))
      .toLocaleString()
      .padStart(9)} entries/s`,
  );
  const SINGLE = 2_000;
  const single = time(`${SINGLE.toLocaleString()} single appends, one commit each`, null, () => {
    for (let n = 0; n < SINGLE; n++) audit.log.append(query(n));
  });
  console.log(`  ${''.padEnd(58)} ${((single.ms / SINGLE) * 1000).toFixed(0).padStart(9)} µs each`);
  console.log(`  ${JSON.stringify(verifyChain(db)).slice(0, 60)}…`);
  db.close();
  await assembled.close();
}

async function main(): Promise<void> {
  const load = os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
  console.log(`audit-scale: ${TARGET.toLocaleString()} entries into ${FILE} (Node ${process.version}, ${os.cpus().length} CPUs, load ${load})`);
  const generated = await generate();
  const { size } = statSync(FILE);
  console.log(
    `generated ${generated.entries.toLocaleString()} entries (${generated.requests.toLocaleString()} requests, ${generated.sessions.toLocaleString()} sessions) ` +
      `in ${generated.seconds.toFixed(1)} s — ${Math.round(generated.entries / generated.seconds).toLocaleString()} entries/s; file ${(size / 1e6).toFixed(0)} MB`,
  );
  await measure();
  if (!process.argv[3]) await rm(FILE, { force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
