// Soak (not a test, not part of the suite): many tunnels moving data for minutes through one
// `access-broker dev`, beside a steady stream of requests, approvals and revokes. Checks that every
// byte came back exactly (SHA-256 of what each tunnel sent against what it received), that no call
// and no tunnel failed, that the audit chain verifies at the end, and samples the broker's RSS so a
// leak shows as a rising line after warm-up.
//
//   npm run soak -- [--duration 3m] [--tunnels 200] [--people 10] [--chunk 16384]
//
// Traffic stays on 127.0.0.1: the target is an echo server in a child process (this file with
// --serve), so its work never shares the soak driver's event loop. Tunnels are spread over
// --people signed-in users (one `access connect` listener each), so a per-user limit on tunnels
// does not cap the total. Figures are from one run on whatever machine runs it: read them (check
// `uptime` first; a busy machine changes them), do not assert them.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDuration, parseDuration } from '../shared/duration.js';
import type { AuditVerifyResponse, RequestView } from '../shared/wire.js';
import { startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../test/helpers/processes.js';
import { accessToken, signIn, startListener, stopListener, type Listening, type Person } from '../test/helpers/tunnel-broker.js';

const SELF = fileURLToPath(import.meta.url);
const MIB = 1024 * 1024;
/** How often the broker's memory is sampled. */
const SAMPLE_EVERY_MS = 5_000;
/** The first part of the run, not judged for growth: caches, JIT, pools and buffers fill up. */
const WARM_UP_SHARE = 0.25;
/** Pause between two request → approve → revoke rounds of the decision traffic (several a second). */
const DECISION_PAUSE_MS = 250;

interface Options {
  durationMs: number;
  tunnels: number;
  people: number;
  chunk: number;
}

function usage(message: string): never {
  process.stderr.write(`soak: ${message}\nusage: npm run soak -- [--duration 3m] [--tunnels 200] [--people 10] [--chunk 16384]\n`);
  process.exit(2);
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { durationMs: 3 * 60_000, tunnels: 200, people: 10, chunk: 16 * 1024 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) usage(`${flag ?? ''} needs a value`);
    const whole = (min: number, max: number): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < min || n > max) usage(`${flag} ${value} is not a whole number from ${min} to ${max}`);
      return n;
    };
    switch (flag) {
      case '--duration': {
        const ms = parseDuration(value);
        if (ms === undefined) usage(`--duration ${value} is not a duration such as 30s, 3m, 1h`);
        options.durationMs = ms;
        break;
      }
      case '--tunnels':
        options.tunnels = whole(1, 1000);
        break;
      case '--people':
        options.people = whole(1, 50);
        break;
      case '--chunk':
        options.chunk = whole(1, 4 * MIB);
        break;
      default:
        usage(`unknown flag ${flag ?? ''}`);
    }
  }
  return options;
}

// ---- the echo target (child process) -------------------------------------------------------------

function serve(): void {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
}

function startTarget(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [SELF, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve({ child, port: Number(chunk.toString().trim()) }));
    child.once('exit', (code) => reject(new Error(`the echo target exited with ${code}`)));
  });
}

// ---- tunnels -------------------------------------------------------------------------------------

interface TunnelResult {
  bytes: number;
  ok: boolean;
  error: string | null;
}

/**
 * One tunnel: sends `chunk`-sized random blocks and reads each echo back, until `until`; hashes
 * everything sent and everything received. Byte-exact when the two hashes and counts match.
 */
function runTunnel(listening: Listening, chunk: number, until: number): Promise<TunnelResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: listening.host, port: listening.port, noDelay: true });
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let sentBytes = 0;
    let receivedBytes = 0;
    let inFlight = 0;
    let failure: string | null = null;
    const sendNext = (): void => {
      if (Date.now() >= until) {
        socket.end();
        return;
      }
      const block = randomBytes(chunk);
      sent.update(block);
      sentBytes += block.length;
      inFlight = block.length;
      socket.write(block);
    };
    socket.once('connect', sendNext);
    socket.on('data', (data: Buffer) => {
      received.update(data);
      receivedBytes += data.length;
      inFlight -= data.length;
      if (inFlight === 0) sendNext();
    });
    socket.on('error', (error) => (failure ??= error.message));
    socket.once('close', () => {
      const exact = receivedBytes === sentBytes && sent.digest('hex') === received.digest('hex');
      const ok = failure === null && exact;
      resolve({
        bytes: sentBytes + receivedBytes,
        ok,
        error: ok ? null : (failure ?? `sent ${sentBytes} bytes, got back ${receivedBytes}${exact ? '' : ' (hash mismatch)'}`),
      });
    });
  });
}

// ---- decisions -----------------------------------------------------------------------------------

interface DecisionStats {
  rounds: number;
  errors: string[];
}

async function call(broker: string, token: string, method: string, pathName: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${broker}${pathName}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

/** request → approve → revoke, round after round, until `until`; every answer must be the expected one. */
async function decisionTraffic(broker: string, requester: Person, approver: Person, until: number): Promise<DecisionStats> {
  const stats: DecisionStats = { rounds: 0, errors: [] };
  const requesterToken = await accessToken(requester);
  const approverToken = await accessToken(approver);
  while (Date.now() < until) {
    try {
      const created = await call(broker, requesterToken, 'POST', '/v1/requests', { resource: 'gated', duration: '10m', reason: `soak round ${stats.rounds}` });
      if (created.status !== 201) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
      const id = (created.body as RequestView).id;
      const approved = await call(broker, approverToken, 'POST', `/v1/requests/${id}/review`, { decision: 'approve' });
      if (approved.status !== 200 || (approved.body as RequestView).state !== 'approved')
        throw new Error(`approve answered ${approved.status}: ${JSON.stringify(approved.body)}`);
      const revoked = await call(broker, approverToken, 'POST', `/v1/requests/${id}/revoke`, { reason: 'soak' });
      if (revoked.status !== 200) throw new Error(`revoke answered ${revoked.status}: ${JSON.stringify(revoked.body)}`);
      stats.rounds += 1;
    } catch (error) {
      stats.errors.push(error instanceof Error ? error.message : String(error));
      if (stats.errors.length > 20) break;
    }
    await new Promise((resolve) => setTimeout(resolve, DECISION_PAUSE_MS));
  }
  return stats;
}

// ---- memory --------------------------------------------------------------------------------------

interface Sample {
  at: number;
  rssMib: number;
}

function rssMib(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

function sampleMemory(pid: number, samples: Sample[]): () => void {
  const take = (): void => {
    try {
      samples.push({ at: Date.now(), rssMib: rssMib(pid) });
    } catch {
      // The broker is gone; the run reports that elsewhere.
    }
  };
  take();
  const timer = setInterval(take, SAMPLE_EVERY_MS);
  return () => clearInterval(timer);
}

// ---- the run -------------------------------------------------------------------------------------

function config(port: number, people: number): string {
  const users = Array.from({ length: people }, (_, i) => `    - { upn: soak${i + 1}@contoso.dev, name: Soak ${i + 1}, groups: [sg-eng] }`);
  return [
    'resources:',
    '  soak:',
    '    kind: tcp',
    `    target: 127.0.0.1:${port}`,
    '    requesters: [sg-eng]',
    '    approvers: [sg-dba]',
    '    autoApprove: [sg-eng]',
    '    maxDuration: 24h',
    '    maxConnections: 1000',
    '  gated:',
    '    kind: tcp',
    `    target: 127.0.0.1:${port}`,
    '    requesters: [sg-eng]',
    '    approvers: [sg-dba]',
    '    maxDuration: 1h',
    'auditors: [sg-audit]',
    // The soak measures the broker under load, not its per-caller limits: lift them above the run's own traffic.
    'limits:',
    '  maxTunnelsPerUserPerResource: 1000',
    '  requestsPerMinute: 10000',
    'devTenant:',
    '  groups: [{ name: sg-eng }, { name: sg-dba }, { name: sg-audit }]',
    '  users:',
    ...users,
    '    - { upn: approver@contoso.dev, name: Approver, groups: [sg-dba] }',
    '    - { upn: auditor@contoso.dev, name: Auditor, groups: [sg-audit] }',
    '',
  ].join('\n');
}

async function main(options: Options): Promise<number> {
  const dir = await tempDir('soak');
  const target = await startTarget();
  const configFile = path.join(dir, 'soak.yaml');
  await writeFile(configFile, config(target.port, options.people));
  let broker: DevBrokerProcess | null = null;
  const listeners: Listening[] = [];
  try {
    broker = await startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', configFile]);
    const pid = broker.child.pid as number;
    const url = broker.url;
    console.log(
      `soak: broker ${url} (pid ${pid}); ${options.tunnels} tunnels over ${options.people} people for ${formatDuration(options.durationMs)}, ${options.chunk}-byte round trips`,
    );
    const people = await Promise.all(
      Array.from({ length: options.people }, async (_, i) => signIn(url, `soak${i + 1}@contoso.dev`, await tempDir(`soak${i + 1}`))),
    );
    const [approver, auditor] = await Promise.all(['approver', 'auditor'].map(async (name) => signIn(url, `${name}@contoso.dev`, await tempDir(name))));
    for (const person of people) {
      const view = await person.json<RequestView>(['request', 'soak', '--for', '24h']);
      if (view.state !== 'approved') throw new Error(`the soak grant of ${person.upn} is ${view.state}`);
      listeners.push(await startListener(person, 'soak'));
    }

    const samples: Sample[] = [];
    const stopSampling = sampleMemory(pid, samples);
    const start = Date.now();
    const until = start + options.durationMs;
    const tunnels = Array.from({ length: options.tunnels }, (_, i) => runTunnel(listeners[i % listeners.length] as Listening, options.chunk, until));
    const decisions = decisionTraffic(url, people[0] as Person, approver as Person, until);
    const results = await Promise.all(tunnels);
    const decided = await decisions;
    const elapsedS = (Date.now() - start) / 1000;
    stopSampling();
    samples.push({ at: Date.now(), rssMib: rssMib(pid) });

    const verify = await call(url, await accessToken(auditor as Person), 'GET', '/v1/audit/verify');
    const chain = verify.body as AuditVerifyResponse;
    const failed = results.filter((r) => !r.ok);
    const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
    const warmUpEnd = start + options.durationMs * WARM_UP_SHARE;
    const afterWarmUp = samples.find((s) => s.at >= warmUpEnd) ?? samples[0];
    const last = samples.at(-1);
    const peak = Math.max(...samples.map((s) => s.rssMib));

    console.log(
      `tunnels      ${results.length - failed.length}/${results.length} byte-exact (SHA-256 both ways), ${(bytes / MIB).toFixed(0)} MiB moved in ${elapsedS.toFixed(0)} s (${(bytes / MIB / elapsedS).toFixed(1)} MiB/s)`,
    );
    for (const f of failed.slice(0, 10)) console.log(`  failed: ${f.error}`);
    console.log(`decisions    ${decided.rounds} request → approve → revoke rounds, ${decided.errors.length} errors`);
    for (const e of decided.errors.slice(0, 10)) console.log(`  error: ${e}`);
    console.log(`audit chain  ${chain.ok ? `verifies (${chain.count} entries)` : `BROKEN at seq ${chain.ok === false ? chain.firstBadSeq : '?'}`}`);
    console.log(
      `broker RSS   ${samples[0]?.rssMib.toFixed(0)} MiB at start, ${afterWarmUp?.rssMib.toFixed(0)} MiB after warm-up (${(WARM_UP_SHARE * 100).toFixed(0)}%), ${last?.rssMib.toFixed(0)} MiB at the end, peak ${peak.toFixed(0)} MiB`,
    );
    console.log(`             samples (MiB, every ${SAMPLE_EVERY_MS / 1000} s): ${samples.map((s) => s.rssMib.toFixed(0)).join(' ')}`);
    return failed.length === 0 && decided.errors.length === 0 && chain.ok ? 0 : 1;
  } finally {
    for (const listening of listeners) await stopListener(listening).catch(() => undefined);
    await broker?.stop();
    target.child.kill();
  }
}

if (process.argv[2] === '--serve') {
  serve();
} else {
  main(parseOptions(process.argv.slice(2))).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
