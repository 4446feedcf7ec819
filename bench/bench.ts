// `npm run bench` (not a test): each measurement beside its reference, in the same invocation and
// in interleaved rounds (A B C A B C …) so a machine that gets busier mid-run slows every path
// alike. Prints a table of medians and ratios and writes it as JSON under bench/results/.
//
//   npm run bench -- [--quick] [--rounds N] [--seconds S] [--only cli,bulk,pgbench,conns,idle,push,revoke] [--tunnels N]
//                    [--profile DIR]
//
// --profile DIR: the broker and every CLI process write a V8 CPU profile (--cpu-prof) into DIR at
// their exit; open one in Chrome's DevTools, or list its top frames with `node bench/top-frames.mjs FILE`.
//
// Measurements (the references in brackets):
//   cli      process time (user+sys) and wall of `access --help` and `access whoami` (empty
//            ACCESS_HOME: refused, exit 4) [`node -e 0`]
//   bulk     iperf3 up (-c) and down (-R) through `access connect` [direct; two socat relays; two
//            plain Node relays], and the CPU the relays spent per GB moved (broker + listener; both
//            socat processes; both Node relays) [socat; plain Node]
//   pgbench  `pgbench -S -c4 -j2` tps and `-c1` latency through a tcp and a postgres resource
//            [direct; two socat relays; two plain Node relays]
//   conns    new connections per second through one `access connect` listener to a TCP echo
//            server (connect, one round trip, close) [direct; two socat relays; two plain Node relays]
//   idle     RSS each idle tunnel adds to the broker and to `access connect` (--tunnels N, default
//            1,000, the most one resource allows; --quick 300)
//   push     approve → requester notified on its events stream, with PUSH_REQUESTERS (100) people
//            each waiting on one request on a stream of their own; approvals one after another
//            (p50/p99/max over every round's; a latency, no reference)
//   revoke   revoke → every tunnel of the grant closed at the client, with 200 open (p50/p99/max
//            of each tunnel's close after the revoke was sent)
// What is not installed (iperf3, socat, pgbench) is skipped, and the run says so.
//
// "Two plain Node relays" are what the simplest relay written for Node does on this machine: two
// processes of this Node, with the relays' V8 flags (RELAY_NODE_FLAGS), each relaying accepted
// connections to the next with net sockets alone (no WebSocket, no sign-in, no audit, Node's own
// read buffers). For small messages (pgbench) and new connections they bound what a Node relay
// can do, and what socat does beyond them is C against JavaScript; in bulk the tunnel beats them,
// by reading into reused buffers.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MAX_CONNECTIONS_LIMIT } from '../broker/config/schema.js';
import { RELAY_NODE_FLAGS } from '../shared/relay-launch.js';
import { ACCESS_BIN, freePort, procStatFields, REPO, startDevBrokerProcess, tempDir } from '../test/helpers/processes.js';
import { grant, signIn, startListener, stopListener, type Person } from '../test/helpers/tunnel-broker.js';
import {
  accepting,
  benchConfig,
  connect,
  installed,
  median,
  PG,
  pgbench,
  preparePgbench,
  PUSH_REQUESTERS,
  ratio,
  requesterUpn,
  run,
  startSocat,
  started,
  table,
} from './common.js';
import { api, createRequest, devToken, openEvents, openTunnelSocket, quantile } from './people.js';

const SELF = fileURLToPath(import.meta.url);
const MEASUREMENTS = ['cli', 'bulk', 'pgbench', 'conns', 'idle', 'push', 'revoke'] as const;
/** Tunnels open on the one grant revoked in `revoke`. */
const REVOKED_TUNNELS = 200;
/** How long `push` and `revoke` wait for the last notification or close before giving up. */
const LATENCY_WAIT_MS = 60_000;
type Measurement = (typeof MEASUREMENTS)[number];

interface Options {
  rounds: number;
  seconds: number;
  /** CLI starts per command and round. */
  starts: number;
  /** Concurrent clients opening connections in `conns`. */
  connClients: number;
  /** Idle tunnels held open in `idle`. */
  idleTunnels: number;
  only: readonly Measurement[];
  /** Where the broker and the CLI write CPU profiles; null: not profiled. */
  profileDir: string | null;
}

function parseOptions(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const only = value('--only')?.split(',') ?? [...MEASUREMENTS];
  for (const name of only) if (!(MEASUREMENTS as readonly string[]).includes(name)) throw new Error(`--only ${name}: not one of ${MEASUREMENTS.join(', ')}`);
  return {
    rounds: Number(value('--rounds') ?? (quick ? 2 : 5)),
    seconds: Number(value('--seconds') ?? (quick ? 1 : 10)),
    starts: quick ? 3 : 10,
    connClients: 8,
    idleTunnels: Math.min(MAX_CONNECTIONS_LIMIT, Number(value('--tunnels') ?? (quick ? 300 : MAX_CONNECTIONS_LIMIT))),
    only: only as Measurement[],
    profileDir: value('--profile') ?? null,
  };
}

/** One line of the table: a path's median over the rounds, and what it is compared with. */
interface Row {
  measurement: string;
  path: string;
  unit: string;
  median: number;
  samples: number[];
  /** The reference path of the same measurement and its median, when this row is not one. */
  versus: { path: string; median: number }[];
}

const skipped: string[] = [];

/** The simplest relay in Node (see the top of this file). */
const PLAIN_NODE = 'two plain Node relays';
/** What the relay paths are compared with: every measurement's own references among these. */
const REFERENCES = ['direct', 'two socat relays', PLAIN_NODE];

/** Runs `paths` in interleaved rounds; each path's `measure` returns one sample. */
async function rounds(rounds: number, paths: readonly { name: string; measure: () => Promise<number> }[]): Promise<Map<string, number[]>> {
  const samples = new Map(paths.map((p) => [p.name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    for (const p of paths) samples.get(p.name)?.push(await p.measure());
  }
  return samples;
}

function rowsOf(measurement: string, unit: string, samples: Map<string, number[]>, references: readonly string[]): Row[] {
  const medians = new Map([...samples].map(([name, values]) => [name, median(values)]));
  return [...samples].map(([name, values]) => ({
    measurement,
    path: name,
    unit,
    median: medians.get(name) ?? 0,
    samples: values,
    versus: references.filter((ref) => ref !== name && medians.has(ref)).map((ref) => ({ path: ref, median: medians.get(ref) ?? 0 })),
  }));
}

// ---- cli: start time ----------------------------------------------------------------------------

/** User+sys ms and wall ms of one run of `argv`, measured by bash's `times` around it. */
async function processTime(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<{ cpu: number; wall: number }> {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const start = performance.now();
  const { stdout } = await run('bash', ['-c', `${quoted} >/dev/null 2>&1; times`], { env });
  const wall = performance.now() - start;
  // `times`: the shell's own user/sys, then its children's: "0m0.091s 0m0.023s".
  const children = stdout.trim().split('\n').at(-1) ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { cpu: (seconds[0] ?? 0) * 1000 + (seconds[1] ?? 0) * 1000, wall };
}

async function benchCli(options: Options): Promise<Row[]> {
  const home = await tempDir('bench-cli-home');
  const env: NodeJS.ProcessEnv = { ...process.env, ACCESS_HOME: home, NO_COLOR: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('ACCESS_') && key !== 'ACCESS_HOME') delete env[key];
  const commands = [
    { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
    { name: 'access --help', argv: [process.execPath, ACCESS_BIN, '--help'] },
    { name: 'access whoami (not signed in)', argv: [process.execPath, ACCESS_BIN, 'whoami'] },
  ];
  const cpu = new Map(commands.map((c) => [c.name, [] as number[]]));
  const wall = new Map(commands.map((c) => [c.name, [] as number[]]));
  for (let i = 0; i < options.rounds * options.starts; i++) {
    for (const c of commands) {
      const t = await processTime(c.argv, env);
      cpu.get(c.name)?.push(t.cpu);
      wall.get(c.name)?.push(t.wall);
    }
  }
  return [...rowsOf('cli start, process time', 'ms', cpu, ['node -e 0']), ...rowsOf('cli start, wall', 'ms', wall, ['node -e 0'])];
}

// ---- the world the tunnel measurements share: a dev broker, alice signed in, socat chains --------

interface World {
  brokerUrl: string;
  alice: Person;
  brokerPid: number;
  /** Local port of an `access connect` listener per resource. */
  listeners: Map<string, number>;
  /** Process id of each listener, by its port. */
  listenerPids: Map<number, number>;
  stops: Array<() => void | Promise<void>>;
}

async function startWorld(targets: Record<string, number>, stops: World['stops']): Promise<World> {
  const dir = await tempDir('bench');
  const configFile = path.join(dir, 'bench.yaml');
  await writeFile(configFile, benchConfig(targets));
  const broker = await startDevBrokerProcess(['--config', configFile, '--data', path.join(dir, 'data')]);
  stops.push(() => broker.stop());
  const alice = await signIn(broker.url, 'alice@contoso.dev', await tempDir('bench-alice'));
  return { brokerUrl: broker.url, alice, brokerPid: broker.child.pid ?? 0, listeners: new Map(), listenerPids: new Map(), stops };
}

async function listener(world: World, resource: string): Promise<number> {
  const known = world.listeners.get(resource);
  if (known !== undefined) return known;
  await grant(world.alice, resource, '4h');
  const listening = await startListener(world.alice, resource);
  world.stops.push(async () => void (await stopListener(listening)));
  world.listeners.set(resource, listening.port);
  world.listenerPids.set(listening.port, listening.run.child.pid ?? 0);
  return listening.port;
}

/** Two socat relays in a row in front of `target` (the reference: the tunnel is two hops too, CLI and broker). */
async function socatChain(target: number, stops: World['stops']): Promise<number> {
  return (await socatPair(target, stops)).port;
}

/** Two relays in a row in front of `target`, each started by `start` towards the next: the port of the first, and both process ids. */
async function relayPair(
  start: (to: number) => Promise<{ port: number; child: ChildProcess }>,
  target: number,
  stops: World['stops'],
): Promise<{ port: number; pids: number[] }> {
  const second = await start(target);
  stops.push(() => void second.child.kill());
  const first = await start(second.port);
  stops.push(() => void first.child.kill());
  return { port: first.port, pids: [first.child.pid ?? 0, second.child.pid ?? 0] };
}

/** socatChain, with the process ids of both relays (each forks a child per connection, whose CPU it collects when the child exits). */
function socatPair(target: number, stops: World['stops']): Promise<{ port: number; pids: number[] }> {
  return relayPair((to) => startSocat(to, true), target, stops);
}

/** Two plain Node relays in a row in front of `target` (the simplest relay in Node: see the top of this file). */
function plainNodePair(target: number, stops: World['stops']): Promise<{ port: number; pids: number[] }> {
  return relayPair((to) => startChild(process.execPath, [...RELAY_NODE_FLAGS, SELF, '--plain-relay', String(to)], 'a plain Node relay'), target, stops);
}

/** CPU ms (user + system, with the children it has collected) process `pid` has used so far (Linux's /proc). */
async function cpuMs(pid: number): Promise<number> {
  // utime, stime, cutime, cstime, in clock ticks.
  const ticks = (await procStatFields(pid)).slice(11, 15).reduce((sum, field) => sum + Number(field), 0);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Linux's USER_HZ, the unit of /proc/PID/stat's times, on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

// ---- bulk: iperf3 ---------------------------------------------------------------------------------

interface IperfReport {
  error?: string;
  end: { sum_received?: { bits_per_second: number; bytes: number } };
}

/** How often, 200 ms apart, an iperf3 run is retried while the server still finishes the last test. */
const IPERF_BUSY_RETRIES = 50;

/** One iperf3 run through `port`: Gbit/s received, and the bytes that crossed. */
async function iperf(port: number, seconds: number, reverse: boolean): Promise<{ gbits: number; bytes: number }> {
  for (let attempt = 0; ; attempt++) {
    const { stdout } = await run('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])]);
    const report = JSON.parse(stdout) as IperfReport;
    const received = report.end.sum_received;
    if (received) return { gbits: received.bits_per_second / 1e9, bytes: received.bytes };
    // The last run's connections may still be closing (through a relay, the server hears the FIN last).
    if (report.error?.includes('busy') && attempt < IPERF_BUSY_RETRIES) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    throw new Error(`iperf3 through port ${port}${reverse ? ' (-R)' : ''} failed: ${report.error ?? stdout}`);
  }
}

/**
 * iperf3 both ways through each path, and what the relays of each path spent per GB moved (the
 * socat pair's two processes with the children they forked, the broker and the listener): a
 * measure of the work the relays do that a busy machine disturbs less than throughput.
 */
async function benchBulk(options: Options, world: World, iperfPort: number): Promise<Row[]> {
  const chain = await socatPair(iperfPort, world.stops);
  const plain = await plainNodePair(iperfPort, world.stops);
  const tunnel = await listener(world, 'iperf');
  const paths = [
    { name: 'direct', port: iperfPort, relays: [] },
    { name: 'two socat relays', port: chain.port, relays: chain.pids },
    { name: PLAIN_NODE, port: plain.port, relays: plain.pids },
    { name: 'access tunnel', port: tunnel, relays: [world.brokerPid, world.listenerPids.get(tunnel) ?? 0] },
  ];
  const rows: Row[] = [];
  for (const [direction, reverse] of [
    ['up', false],
    ['down', true],
  ] as const) {
    const cpuPerGb = new Map(paths.filter((p) => p.relays.length > 0).map((p) => [p.name, [] as number[]]));
    const samples = await rounds(
      options.rounds,
      paths.map(({ name, port, relays }) => ({
        name,
        measure: async () => {
          const before = await totalCpuMs(relays);
          const { gbits, bytes } = await iperf(port, options.seconds, reverse);
          if (relays.length === 0) return gbits;
          // socat collects a forked relay's CPU once that child has exited, just after the run.
          await new Promise((resolve) => setTimeout(resolve, RELAY_EXIT_MS));
          const spent = (await totalCpuMs(relays)) - before;
          cpuPerGb.get(name)?.push(spent / (bytes / 1e9));
          return gbits;
        },
      })),
    );
    rows.push(...rowsOf(`iperf3 ${direction}`, 'Gbit/s', samples, REFERENCES));
    rows.push(...rowsOf(`iperf3 ${direction}, relays' CPU per GB`, 'ms/GB', cpuPerGb, REFERENCES));
  }
  return rows;
}

/** How long after an iperf3 run its relays' CPU is read: socat's forked child must have exited and been collected. */
const RELAY_EXIT_MS = 300;

async function totalCpuMs(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuMs(pid);
  return total;
}

// ---- pgbench --------------------------------------------------------------------------------------

async function benchPgbench(options: Options, world: World): Promise<Row[]> {
  world.stops.push(await preparePgbench());
  const chain = await socatChain(PG.port, world.stops);
  const paths = {
    direct: PG.port,
    'two socat relays': chain,
    [PLAIN_NODE]: (await plainNodePair(PG.port, world.stops)).port,
    'access tunnel (tcp)': await listener(world, 'pg-tcp'),
    'access tunnel (postgres, queries audited)': await listener(world, 'pg'),
  };
  const tps = await rounds(
    options.rounds,
    Object.entries(paths).map(([name, port]) => ({ name, measure: async () => (await pgbench(port, options.seconds, 4, 2)).tps })),
  );
  const latency = await rounds(
    options.rounds,
    Object.entries(paths).map(([name, port]) => ({ name, measure: async () => (await pgbench(port, options.seconds, 1, 1)).latencyMs })),
  );
  return [...rowsOf('pgbench -S -c4 -j2', 'tps', tps, REFERENCES), ...rowsOf('pgbench -S -c1 latency', 'ms', latency, REFERENCES)];
}

// ---- conns: new connections per second --------------------------------------------------------------

/** Connect, send one byte, wait for its echo, close. */
async function roundTrip(port: number): Promise<void> {
  const socket = await connect(port);
  await new Promise<void>((resolve, reject) => {
    socket.once('data', () => resolve());
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the echo')));
    socket.write('x');
  });
  socket.destroy();
}

/** Connections per second that `clients` loops complete in `seconds`. */
async function connectionsPerSecond(port: number, seconds: number, clients: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        await roundTrip(port);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

async function benchConns(options: Options, world: World, echoPort: number): Promise<Row[]> {
  const paths = {
    direct: echoPort,
    'two socat relays': await socatChain(echoPort, world.stops),
    [PLAIN_NODE]: (await plainNodePair(echoPort, world.stops)).port,
    'access tunnel': await listener(world, 'echo'),
  };
  const samples = await rounds(
    options.rounds,
    Object.entries(paths).map(([name, port]) => ({ name, measure: () => connectionsPerSecond(port, options.seconds, options.connClients) })),
  );
  return rowsOf(`new connections/s (${options.connClients} clients)`, 'conn/s', samples, REFERENCES);
}

// ---- idle: memory per idle tunnel ------------------------------------------------------------------

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
}

/** Holds `count` tunnels open (each after one round trip, so it is set up end to end) and reports what each adds to the broker's and the listener's RSS. */
async function benchIdle(options: Options, world: World): Promise<Row[]> {
  const port = await listener(world, 'echo');
  const cliPid = world.listenerPids.get(port) ?? 0;
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2000));
  await settle();
  const before = { broker: await rssKiB(world.brokerPid), cli: await rssKiB(cliPid) };
  const sockets: net.Socket[] = [];
  try {
    // A few at a time: the listener opens a WebSocket (and asks for a token) per connection.
    for (let i = 0; i < options.idleTunnels; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, options.idleTunnels - i) }, async () => {
          const socket = await connect(port);
          await new Promise<void>((resolve, reject) => {
            socket.once('data', () => resolve());
            socket.once('close', () => reject(new Error(`tunnel ${sockets.length + 1} closed before its echo (a limit?)`)));
            socket.write('x');
          });
          return socket;
        }),
      );
      sockets.push(...batch);
    }
    await settle();
    const after = { broker: await rssKiB(world.brokerPid), cli: await rssKiB(cliPid) };
    const per = (k: 'broker' | 'cli'): number => (after[k] - before[k]) / options.idleTunnels;
    const measurement = `idle RSS per tunnel (${options.idleTunnels} tunnels)`;
    return [
      { measurement, path: 'access-broker', unit: 'KiB', median: per('broker'), samples: [before.broker, after.broker], versus: [] },
      { measurement, path: 'access connect', unit: 'KiB', median: per('cli'), samples: [before.cli, after.cli], versus: [] },
    ];
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

// ---- push and revoke: latencies -------------------------------------------------------------------

/** Resolves once `done()` holds, checking every 5 ms; rejects after LATENCY_WAIT_MS saying `what`. */
async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = performance.now() + LATENCY_WAIT_MS;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${LATENCY_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function latencyRows(measurement: string, latencies: readonly number[]): Row[] {
  return (
    [
      ['p50', 0.5],
      ['p99', 0.99],
      ['max', 1],
    ] as const
  ).map(([path, q]) => ({ measurement, path, unit: 'ms', median: quantile(latencies, q), samples: path === 'max' ? [...latencies] : [], versus: [] }));
}

/**
 * PUSH_REQUESTERS people each wait on their own request on their own events stream; bob approves
 * one after another. Each round asks and approves anew; the latencies of every round are pooled.
 */
async function benchPush(options: Options, world: World): Promise<Row[]> {
  const url = world.brokerUrl;
  const bob = await devToken(url, 'bob@contoso.dev');
  const notifiedAt = new Map<string, number>();
  const tokens: string[] = [];
  const streams: Array<{ close(): void }> = [];
  const latencies: number[] = [];
  try {
    for (let n = 1; n <= PUSH_REQUESTERS; n++) {
      const token = await devToken(url, requesterUpn(n));
      tokens.push(token);
      streams.push(
        await openEvents(url, token, (message) => {
          if (message.type === 'request' && message.change === 'approved') notifiedAt.set(message.request.id, performance.now());
        }),
      );
    }
    for (let round = 0; round < options.rounds; round++) {
      const ids: string[] = [];
      for (const token of tokens) ids.push((await createRequest(url, token, 'push')).id);
      const sentAt = new Map<string, number>();
      for (const id of ids) {
        sentAt.set(id, performance.now());
        await api(url, bob, 'POST', `/v1/requests/${id}/review`, { decision: 'approve' });
      }
      await until('every requester notified of the approval', () => ids.every((id) => notifiedAt.has(id)));
      latencies.push(...ids.map((id) => (notifiedAt.get(id) ?? 0) - (sentAt.get(id) ?? 0)));
    }
    return latencyRows(`approval push: approve → requester notified (${PUSH_REQUESTERS} waiting)`, latencies);
  } finally {
    for (const stream of streams) stream.close();
  }
}

/**
 * REVOKED_TUNNELS tunnels on one grant of alice's; she revokes it; each tunnel's close at the client
 * is timed from the revoke. A new grant each round; the latencies of every round are pooled.
 */
async function benchRevoke(options: Options, world: World): Promise<Row[]> {
  const url = world.brokerUrl;
  const alice = await devToken(url, 'alice@contoso.dev');
  const latencies: number[] = [];
  const sockets: Array<{ terminate(): void }> = [];
  try {
    for (let round = 0; round < options.rounds; round++) {
      const grant = await createRequest(url, alice, 'revoke');
      const closedAt: number[] = [];
      for (let i = 0; i < REVOKED_TUNNELS; i += 20) {
        const batch = await Promise.all(Array.from({ length: Math.min(20, REVOKED_TUNNELS - i) }, () => openTunnelSocket(url, alice, 'revoke')));
        for (const ws of batch) ws.once('close', () => closedAt.push(performance.now()));
        sockets.push(...batch);
      }
      const sent = performance.now();
      await api(url, alice, 'POST', `/v1/requests/${grant.id}/revoke`, { reason: 'bench' });
      await until('every tunnel of the revoked grant closed', () => closedAt.length === REVOKED_TUNNELS);
      latencies.push(...closedAt.map((at) => at - sent));
    }
    return latencyRows(`revoke → tunnel closed (${REVOKED_TUNNELS} open)`, latencies);
  } finally {
    for (const socket of sockets) socket.terminate();
  }
}

// ---- the echo server (a child process, so it never shares the client's event loop) ------------------

function serveEcho(): void {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
}

/**
 * A plain relay to `target` on loopback: each accepted connection to a new one, bytes both ways
 * with backpressure, Nagle off, nothing else. Prints its port.
 */
function servePlainRelay(target: number): void {
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: target, noDelay: true });
    const relay = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!to.write(chunk)) from.pause();
      });
      to.on('drain', () => from.resume());
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
}

async function startChild(command: string, args: string[], what: string): Promise<{ port: number; child: ChildProcess }> {
  const child = started(spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] }), what);
  const port = await new Promise<number>((resolve) => child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
  return { port, child };
}

async function startIperfServer(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = started(spawn('iperf3', ['-s', '-p', String(port), '-B', '127.0.0.1'], { stdio: 'ignore' }), 'iperf3 -s');
  await accepting(port);
  return { port, child };
}

// ---- the run --------------------------------------------------------------------------------------

function format(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(2);
}

function printTable(rows: readonly Row[]): string {
  const lines = [['measurement', 'path', 'median', 'unit', 'vs direct / node -e 0', 'vs two socat relays', `vs ${PLAIN_NODE}`]];
  for (const row of rows) {
    const versus = (ref: string): string => {
      const r = row.versus.find((v) => v.path === ref);
      if (!r) return '';
      return row.measurement.startsWith('cli') ? `+${(row.median - r.median).toFixed(0)} ms` : ratio(row.median, r.median);
    };
    lines.push([
      row.measurement,
      row.path,
      format(row.median),
      row.unit,
      versus(row.path === 'node -e 0' ? '' : row.measurement.startsWith('cli') ? 'node -e 0' : 'direct'),
      versus('two socat relays'),
      versus(PLAIN_NODE),
    ]);
  }
  return table(lines);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.profileDir !== null) {
    await mkdir(options.profileDir, { recursive: true });
    // Read by test/helpers/processes.ts when it spawns the broker and the CLI.
    process.env.ACCESS_CHILD_NODE_FLAGS = `--cpu-prof --cpu-prof-dir=${path.resolve(options.profileDir)}`;
  }
  const [load1, load5] = os.loadavg();
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAtStart: [load1, load5],
  };
  console.log(
    `access bench: ${options.rounds} interleaved rounds, ${options.seconds} s per run; ${machine.cores} × ${machine.cpu}; load ${load1?.toFixed(2)} (1m)`,
  );
  const rows: Row[] = [];
  const stops: World['stops'] = [];
  try {
    if (options.only.includes('cli')) rows.push(...(await benchCli(options)));
    const wantsWorld = options.only.some((m) => m !== 'cli');
    if (wantsWorld) {
      const haveIperf = await installed('iperf3');
      const haveSocat = await installed('socat');
      const havePgbench = (await installed('pgbench')) && (await installed('psql'));
      const echo = await startChild(process.execPath, [SELF, '--echo'], 'the echo server');
      stops.push(() => void echo.child.kill());
      const iperfServer = haveIperf && options.only.includes('bulk') ? await startIperfServer() : null;
      if (iperfServer) stops.push(() => void iperfServer.child.kill());
      const world = await startWorld({ echo: echo.port, revoke: echo.port, ...(iperfServer ? { iperf: iperfServer.port } : {}) }, stops);
      // First, while the broker has served nothing else: RSS that earlier runs grew (and a GC may give back) would blur it.
      if (options.only.includes('idle')) rows.push(...(await benchIdle(options, world)));
      if (!haveSocat) skipped.push('the socat references: socat is not installed (apt-get install socat)');
      if (options.only.includes('bulk')) {
        if (iperfServer && haveSocat) rows.push(...(await benchBulk(options, world, iperfServer.port)));
        else skipped.push('bulk: iperf3 or socat is not installed (apt-get install iperf3 socat)');
      }
      if (options.only.includes('pgbench')) {
        if (havePgbench && haveSocat) rows.push(...(await benchPgbench(options, world)));
        else skipped.push('pgbench: pgbench/psql or socat is not installed (PostgreSQL client tools)');
      }
      if (options.only.includes('conns')) {
        if (haveSocat) rows.push(...(await benchConns(options, world, echo.port)));
        else skipped.push('conns: socat is not installed');
      }
      if (options.only.includes('push')) rows.push(...(await benchPush(options, world)));
      if (options.only.includes('revoke')) rows.push(...(await benchRevoke(options, world)));
    }
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
  console.log(`\n${printTable(rows)}\n`);
  for (const reason of skipped) console.log(`skipped: ${reason}`);
  const dir = path.join(REPO, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(
    dir,
    `${new Date()
      .toISOString()
      .replaceAll(':', '-')
      .replace(/\.\d+Z$/, 'Z')}.json`,
  );
  await writeFile(file, `${JSON.stringify({ when: new Date().toISOString(), machine, options, rows, skipped }, null, 2)}\n`);
  console.log(`written: ${path.relative(REPO, file)}`);
}

const plainRelayTarget = process.argv.indexOf('--plain-relay');
if (process.argv.includes('--echo')) serveEcho();
else if (plainRelayTarget >= 0) servePlainRelay(Number(process.argv[plainRelayTarget + 1]));
else await main();
