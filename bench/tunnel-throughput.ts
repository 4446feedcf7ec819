// Benchmark (not a test): the tunnel's throughput against the same loopback sink/source reached
// directly, through socat (a C relay: the reference for "a relay process in the way"), and through
// `access connect` + `access-broker dev`; then `pgbench -S` against the machine's PostgreSQL the
// same ways, the tunnel twice: as a postgres resource (every query recorded in the audit log) and
// as a plain tcp resource (the relay alone).
//
//   npm run build && npx tsc -p bench/tsconfig.json && node dist/bench-build/bench/tunnel-throughput.js [MiB] [runs] [pgbench-seconds]
//
// Defaults: 1024 MiB each direction, the median of 3 runs, pgbench for 10 s (`-S -c 4 -j 2`, 0
// skips it). Needs socat, and for pgbench: psql, pgbench and PostgreSQL on 127.0.0.1:5432 (user
// postgres, trust auth); it creates the database access_bench and drops it at the end.
//
// The sink/source is this same file run as a child process (`--serve`), so the client and the
// server never share an event loop. "up" is client → target (the ack comes once the last byte
// arrived), "down" is target → client. Figures are from one run on whatever machine runs it: read
// them, check `uptime` first (a busy machine halves them), do not assert them.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../test/helpers/processes.js';
import { grant, signIn, startListener, stopListener, type Listening } from '../test/helpers/tunnel-broker.js';
import { benchConfig, connect, gbits, median, PG, pgbench, preparePgbench, ratio, startSocat, started, table } from './common.js';

const MIB = 1024 * 1024;
const BYTES = Number(process.argv[2] ?? 1024) * MIB;
const RUNS = Number(process.argv[3] ?? 3);
const PGBENCH_SECONDS = Number(process.argv[4] ?? 10);
/** What one write hands the kernel: large enough that the client is never the bottleneck. */
const WRITE_BYTES = MIB;
/** Header of a transfer: 'U' (client sends) or 'D' (server sends), then the byte count (uint64 BE). */
const HEADER_BYTES = 9;
const UP = 0x55;
const DOWN = 0x44;
/** The server's one-byte answer once an upload is complete. */
const ACK = Buffer.from('K');
const SELF = fileURLToPath(import.meta.url);

// ---- the sink/source (child process) -------------------------------------------------------------

function serve(): void {
  const block = randomBytes(WRITE_BYTES);
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    let header = Buffer.alloc(0);
    let remaining = -1;
    const onData = (chunk: Buffer): void => {
      if (remaining < 0) {
        header = Buffer.concat([header, chunk]);
        if (header.length < HEADER_BYTES) return;
        const mode = header[0];
        const size = Number(header.readBigUInt64BE(1));
        const rest = header.length - HEADER_BYTES;
        if (mode === DOWN) {
          socket.off('data', onData);
          void sendBytes(socket, block, size);
          return;
        }
        remaining = size - rest;
      } else {
        remaining -= chunk.length;
      }
      if (remaining === 0) socket.write(ACK);
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
  });
}

/** Resolves when the socket drains or closes (then the sender's loop sees it destroyed). */
function drainedOrClosed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

async function sendBytes(socket: net.Socket, block: Buffer, total: number): Promise<void> {
  let left = total;
  while (left > 0 && !socket.destroyed) {
    const chunk = left >= block.length ? block : block.subarray(0, left);
    left -= chunk.length;
    if (!socket.write(chunk)) await drainedOrClosed(socket);
  }
}

// ---- the client (this process) -----------------------------------------------------------------

function header(mode: number, size: number): Buffer {
  const buffer = Buffer.alloc(HEADER_BYTES);
  buffer[0] = mode;
  buffer.writeBigUInt64BE(BigInt(size), 1);
  return buffer;
}

/** Seconds to send `size` bytes to the sink through `port`, until its ack. */
async function timeUp(port: number, size: number): Promise<number> {
  const socket = await connect(port);
  const block = randomBytes(WRITE_BYTES);
  const acked = new Promise<void>((resolve, reject) => {
    socket.once('data', () => resolve());
    socket.once('close', () => reject(new Error('closed before the ack')));
  });
  const start = performance.now();
  socket.write(header(UP, size));
  await sendBytes(socket, block, size);
  await acked;
  const seconds = (performance.now() - start) / 1000;
  socket.destroy();
  return seconds;
}

/** Seconds to receive `size` bytes from the source through `port`. */
async function timeDown(port: number, size: number): Promise<number> {
  const socket = await connect(port);
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= size) resolve();
    });
    socket.once('close', () => (got >= size ? resolve() : reject(new Error(`closed after ${got} of ${size} bytes`))));
    socket.write(header(DOWN, size));
  });
  const seconds = (performance.now() - start) / 1000;
  socket.destroy();
  return seconds;
}

/** Median bytes/s over RUNS transfers. */
async function throughput(port: number, direction: 'up' | 'down'): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < RUNS; i++) rates.push(BYTES / (direction === 'up' ? await timeUp(port, BYTES) : await timeDown(port, BYTES)));
  return median(rates);
}

// ---- processes ------------------------------------------------------------------------------------

async function startSink(): Promise<{ port: number; child: ChildProcess }> {
  const child = started(spawn(process.execPath, [SELF, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] }), 'the sink');
  const port = await new Promise<number>((resolve) => child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
  return { port, child };
}

// ---- the run ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const [one, five] = os.loadavg();
  console.log(
    `tunnel throughput: ${BYTES / MIB} MiB each direction, median of ${RUNS}; ${os.cpus().length} cores; load ${one?.toFixed(2)} (1m) ${five?.toFixed(2)} (5m)`,
  );
  const stops: Array<() => void | Promise<void>> = [];
  try {
    const sink = await startSink();
    stops.push(() => void sink.child.kill());
    const socat = await startSocat(sink.port);
    stops.push(() => void socat.child.kill());
    const dir = await tempDir('bench-tunnel');
    const configFile = path.join(dir, 'bench.yaml');
    await writeFile(configFile, benchConfig({ sink: sink.port }));
    const broker: DevBrokerProcess = await startDevBrokerProcess(['--config', configFile, '--data', path.join(dir, 'data')]);
    stops.push(() => broker.stop());
    const alice = await signIn(broker.url, 'alice@contoso.dev', await tempDir('bench-alice'));
    await grant(alice, 'sink', '4h');
    const tunnel: Listening = await startListener(alice, 'sink');
    stops.push(async () => void (await stopListener(tunnel)));

    const paths = [
      { name: 'direct', port: sink.port },
      { name: 'socat', port: socat.port },
      { name: 'access tunnel', port: tunnel.port },
    ];
    const measured: Record<string, { up: number; down: number }> = {};
    for (const { name, port } of paths) {
      measured[name] = { up: await throughput(port, 'up'), down: await throughput(port, 'down') };
      console.log(`  ${name}: up ${gbits(measured[name].up)}, down ${gbits(measured[name].down)}`);
    }
    const direct = measured.direct as { up: number; down: number };
    const viaSocat = measured.socat as { up: number; down: number };
    const viaTunnel = measured['access tunnel'] as { up: number; down: number };
    const rows = [['path', 'up', 'down', 'up / direct', 'down / direct', 'up / socat', 'down / socat']];
    for (const { name } of paths) {
      const m = measured[name] as { up: number; down: number };
      rows.push([name, gbits(m.up), gbits(m.down), ratio(m.up, direct.up), ratio(m.down, direct.down), ratio(m.up, viaSocat.up), ratio(m.down, viaSocat.down)]);
    }
    console.log(`\n${table(rows)}\n`);
    console.log(
      `tunnel / direct: up ${ratio(viaTunnel.up, direct.up)}, down ${ratio(viaTunnel.down, direct.down)}; tunnel / socat: up ${ratio(viaTunnel.up, viaSocat.up)}, down ${ratio(viaTunnel.down, viaSocat.down)}`,
    );

    if (PGBENCH_SECONDS > 0) await benchPostgres(alice, stops);
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

async function benchPostgres(alice: Awaited<ReturnType<typeof signIn>>, stops: Array<() => void | Promise<void>>): Promise<void> {
  stops.push(await preparePgbench());
  const socat = await startSocat(PG.port);
  stops.push(() => void socat.child.kill());
  const tunnels: Record<string, Listening> = {};
  for (const resource of ['pg', 'pg-tcp']) {
    await grant(alice, resource, '4h');
    const listening = await startListener(alice, resource);
    stops.push(async () => void (await stopListener(listening)));
    tunnels[resource] = listening;
  }

  const paths = [
    ['direct', PG.port],
    ['socat', socat.port],
    ['access tunnel (postgres, queries audited)', tunnels.pg?.port ?? 0],
    ['access tunnel (tcp, no query capture)', tunnels['pg-tcp']?.port ?? 0],
  ] as const;
  const tps: Record<string, number> = {};
  for (const [name, port] of paths) {
    tps[name] = (await pgbench(port, PGBENCH_SECONDS)).tps;
    console.log(`  pgbench ${name}: ${tps[name]?.toFixed(0)} tps`);
  }
  const direct = tps.direct as number;
  const viaSocat = tps.socat as number;
  const rows = [['pgbench -S -c 4 -j 2', 'tps', '/ direct', '/ socat']];
  for (const [name] of paths) {
    const value = tps[name] as number;
    rows.push([name, value.toFixed(0), ratio(value, direct), ratio(value, viaSocat)]);
  }
  console.log(`\n${table(rows)}`);
}

if (process.argv.includes('--serve')) serve();
else await main();
