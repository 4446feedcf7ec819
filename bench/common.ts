// What the benchmarks share: starting helper processes (socat relays), pgbench against the
// machine's PostgreSQL, the dev-broker config they tunnel through, and the statistics and table
// they print. Benchmarks are not tests: they print figures, they assert nothing.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { MAX_CONNECTIONS_LIMIT } from '../broker/config/schema.js';
import { freePort } from '../test/helpers/processes.js';

export const run = promisify(execFile);

export const BENCH_DB = 'access_bench';
export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}`;
}

export function gbits(bytesPerSecond: number): string {
  return `${((bytesPerSecond * 8) / 1e9).toFixed(2)} Gbit/s`;
}

/** Columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A helper process that cannot start (a tool not installed) ends the benchmark with the reason. */
export function started(child: ChildProcess, what: string): ChildProcess {
  child.once('error', (error) => {
    console.error(`${what} could not start: ${error.message}`);
    process.exit(1);
  });
  return child;
}

/** Whether `command` is on PATH (a measurement that needs it is skipped, saying so, when not). */
export async function installed(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves once something accepts connections on `port`. */
export async function accepting(port: number): Promise<void> {
  for (;;) {
    try {
      (await connect(port)).destroy();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * socat relaying a free loopback port to `target`; resolves once it accepts. `tuned`: the
 * reference relay of the issue (`-b 131072`, TCP_NODELAY towards the target).
 */
export async function startSocat(target: number, tuned = false): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const args = tuned
    ? ['-b', '131072', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${target},nodelay`]
    : [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${target}`];
  const child = started(spawn('socat', args, { stdio: 'ignore' }), 'socat');
  await accepting(port);
  return { port, child };
}

export async function psql(sql: string): Promise<void> {
  await run('psql', ['-X', '-q', '-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', 'postgres', '-c', sql]);
}

/** Creates BENCH_DB with pgbench's tables (scale 1); returns what drops it again. */
export async function preparePgbench(): Promise<() => Promise<void>> {
  await psql(`drop database if exists ${BENCH_DB}`);
  await psql(`create database ${BENCH_DB}`);
  await run('pgbench', ['-i', '-q', '-s', '1', '-h', PG.host, '-p', String(PG.port), '-U', PG.user, BENCH_DB]);
  return () => psql(`drop database if exists ${BENCH_DB}`);
}

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
}

/** `pgbench -S` (select-only) with `clients` clients for `seconds` against `port`. */
export async function pgbench(port: number, seconds: number, clients = 4, threads = 2): Promise<PgbenchResult> {
  const { stdout } = await run('pgbench', [
    '-n',
    '-S',
    '-c',
    String(clients),
    '-j',
    String(threads),
    '-T',
    String(seconds),
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-U',
    PG.user,
    BENCH_DB,
  ]);
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  const latency = /latency average = ([\d.]+) ms/.exec(stdout);
  if (!tps || !latency) throw new Error(`no tps or latency in pgbench's output:\n${stdout}`);
  return { tps: Number(tps[1]), latencyMs: Number(latency[1]) };
}

/** A resource named `name` to `target`, granted to sg-eng at once (autoApprove), with as many tunnels at once as a config allows. */
function tcpLike(name: string, kind: 'tcp' | 'postgres', target: string): string[] {
  return [
    `  ${name}:`,
    `    kind: ${kind}`,
    `    target: ${target}`,
    '    requesters: [sg-eng]',
    '    approvers: [sg-dba]',
    '    autoApprove: [sg-eng]',
    '    maxDuration: 4h',
    `    maxConnections: ${MAX_CONNECTIONS_LIMIT}`,
  ];
}

/** Requesters waiting on one approval each in the push measurement: req001@contoso.dev … */
export const PUSH_REQUESTERS = 100;

export function requesterUpn(n: number): string {
  return `req${String(n).padStart(3, '0')}@contoso.dev`;
}

/**
 * The dev broker's config: `tcp` resources by name → port on loopback, plus PostgreSQL as `pg`
 * (postgres) and `pg-tcp` (tcp), and `push` (tcp to the echo server), which needs bob's approval,
 * for PUSH_REQUESTERS people of sg-req.
 */
export function benchConfig(tcpTargets: Record<string, number>): string {
  return [
    'resources:',
    ...Object.entries(tcpTargets).flatMap(([name, port]) => tcpLike(name, 'tcp', `127.0.0.1:${port}`)),
    ...tcpLike('pg', 'postgres', `${PG.host}:${PG.port}`),
    // The same server as plain TCP: the relay without the per-query audit of a postgres resource.
    ...tcpLike('pg-tcp', 'tcp', `${PG.host}:${PG.port}`),
    '  push:',
    '    kind: tcp',
    `    target: 127.0.0.1:${tcpTargets['echo'] ?? 9}`,
    '    requesters: [sg-req]',
    '    approvers: [sg-dba]',
    '    maxDuration: 4h',
    // The bench measures the relay, not the per-caller limits: one person opens every tunnel.
    'limits:',
    `  maxTunnelsPerUserPerResource: ${MAX_CONNECTIONS_LIMIT}`,
    'devTenant:',
    '  groups: [{ name: sg-eng }, { name: sg-dba }, { name: sg-req }]',
    '  users:',
    '    - { upn: alice@contoso.dev, name: Alice Requester, groups: [sg-eng] }',
    '    - { upn: bob@contoso.dev, name: Bob Approver, groups: [sg-dba] }',
    ...Array.from({ length: PUSH_REQUESTERS }, (_, i) => `    - { upn: ${requesterUpn(i + 1)}, name: Requester ${i + 1}, groups: [sg-req] }`),
    '',
  ].join('\n');
}
