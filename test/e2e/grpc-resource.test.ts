// A `kind: grpc` resource end to end: `access-broker dev` with test/fixtures/grpc.yaml, alice signed
// in with the CLI and `access connect greeter` listening, and a real @grpc/grpc-js server and client
// (test/fixtures/greeter.proto) on either side of the tunnel, over a plaintext (h2c) channel. The
// server answers with the identity metadata it received; every call and its grpc-status is in the
// session's audit story.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditShowResponse } from '../../shared/wire.js';
import { REPO, startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';
import { accessToken, BrokerApi, eventually, grant, signIn, startListener, stopListener, type Listening, type Person } from '../helpers/tunnel-broker.js';

interface HelloReply {
  message: string;
  users: string[];
  token: string;
}
interface CountReply {
  n: number;
}
type Callback<T> = (error: grpc.ServiceError | null, reply?: T) => void;
interface GreeterClient extends grpc.Client {
  Hello(request: { name: string }, metadata: grpc.Metadata, callback: Callback<HelloReply>): grpc.ClientUnaryCall;
  Count(request: { to: number }, metadata?: grpc.Metadata): grpc.ClientReadableStream<CountReply>;
  Ticks(request: { to: number }): grpc.ClientReadableStream<CountReply>;
}

const definition = protoLoader.loadSync(path.join(REPO, 'test/fixtures/greeter.proto'), { keepCase: true, defaults: true });
const proto = grpc.loadPackageDefinition(definition) as unknown as {
  access: { test: { Greeter: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } };
};
const Greeter = proto.access.test.Greeter;

/** The target: a real grpc-js server. `Hello` with name "missing" fails with NOT_FOUND. */
async function startGreeter(): Promise<{ port: number; server: grpc.Server; cancelledTicks: () => number }> {
  const server = new grpc.Server();
  let cancelledTicks = 0;
  server.addService(Greeter.service, {
    Hello: (call: grpc.ServerUnaryCall<{ name: string }, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) => {
      if (call.request.name === 'missing') {
        callback({ code: grpc.status.NOT_FOUND, details: 'no such greeting: missing' });
        return;
      }
      callback(null, {
        message: `hello ${call.request.name}`,
        users: call.metadata.get('x-access-user').map(String),
        token: String(call.metadata.get('x-access-token')[0] ?? ''),
      });
    },
    Count: (call: grpc.ServerWritableStream<{ to: number }, CountReply>) => {
      for (let n = 1; n <= call.request.to; n++) call.write({ n });
      call.end();
    },
    Ticks: (call: grpc.ServerWritableStream<{ to: number }, CountReply>) => {
      let n = 0;
      const timer = setInterval(() => call.write({ n: ++n }), 50);
      call.on('cancelled', () => {
        clearInterval(timer);
        cancelledTicks++;
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { port, server, cancelledTicks: () => cancelledTicks };
}

/** The design's promise: every tunnel of a revoked grant closes within a second (plus a busy machine's slack). */
const REVOKE_CUT_MS = 2_000;

let greeter: Awaited<ReturnType<typeof startGreeter>>;
let bob: Person;
let broker: DevBrokerProcess;
let api: BrokerApi;
let alice: Person;
let daveToken: string;
let dave: Person;
let listening: Listening;
let client: GreeterClient;
let firstGrant: string;

beforeAll(async () => {
  const dir = await tempDir('grpc-resource');
  greeter = await startGreeter();
  const template = await readFile(path.join(REPO, 'test/fixtures/grpc.yaml'), 'utf8');
  const config = path.join(dir, 'grpc.yaml');
  await writeFile(config, template.replace(/\$\{GRPC_PORT\}/g, String(greeter.port)));
  broker = await startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', config]);
  api = new BrokerApi(broker.url);
  [alice, bob, dave] = await Promise.all([
    signIn(broker.url, 'alice@contoso.dev', await tempDir('alice')),
    signIn(broker.url, 'bob@contoso.dev', await tempDir('bob')),
    signIn(broker.url, 'dave@contoso.dev', await tempDir('dave')),
  ]);
  daveToken = await accessToken(dave);
  firstGrant = (await grant(alice, 'greeter', '1h')).id;
  listening = await startListener(alice, 'greeter');
  client = new Greeter(`127.0.0.1:${listening.port}`, grpc.credentials.createInsecure()) as unknown as GreeterClient;
}, 120_000);

afterAll(async () => {
  client?.close();
  if (listening) await stopListener(listening);
  await broker?.stop();
  greeter?.server.forceShutdown();
});

function hello(name: string, metadata = new grpc.Metadata()): Promise<HelloReply> {
  return new Promise((resolve, reject) => client.Hello({ name }, metadata, (error, reply) => (error ? reject(error) : resolve(reply as HelloReply))));
}

describe('a grpc resource through `access connect`', () => {
  it('prints a plaintext channel target to use', () => {
    expect(listening.run.stdout()).toContain(`Connect with: grpcurl -plaintext 127.0.0.1:${listening.port} list`);
  });

  it("passes a unary call with the broker's identity metadata and not the client's forged one", async () => {
    const forged = new grpc.Metadata();
    forged.set('x-access-user', 'mallory@evil.example');
    forged.set('x-access-token', 'forged');
    const reply = await hello('alice', forged);
    expect(reply.message).toBe('hello alice');
    expect(reply.users).toEqual(['alice@contoso.dev']);
    expect(reply.token).not.toBe('forged');
    expect(reply.token.split('.')).toHaveLength(3);
  });

  it("passes the target's error status to the client", async () => {
    await expect(hello('missing')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: 'no such greeting: missing' });
  });

  it('streams a server-streaming call message by message', async () => {
    const seen: number[] = [];
    const stream = client.Count({ to: 50 });
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (reply: CountReply) => seen.push(reply.n));
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('records each call with its method and grpc-status, and `access audit show` tells them in words', async () => {
    const sessions = await api.sessions(daveToken, 'greeter');
    expect(sessions).toHaveLength(1);
    const id = sessions[0]?.id as string;
    const story = await eventually('the calls and their statuses in the audit log', async () => {
      const got = await api.get<AuditShowResponse>(daveToken, `/v1/audit/show/${encodeURIComponent(id)}`);
      return got.entries.filter((e) => e.type === 'grpc.status').length >= 3 ? got : undefined;
    });
    const calls = story.entries.filter((e) => e.type === 'grpc.call').map((e) => e.body.method);
    expect(calls).toEqual(['/access.test.Greeter/Hello', '/access.test.Greeter/Hello', '/access.test.Greeter/Count']);
    const statuses = story.entries.filter((e) => e.type === 'grpc.status').map((e) => e.body);
    expect(statuses).toEqual([
      expect.objectContaining({ method: '/access.test.Greeter/Hello', grpcStatus: 0, outcome: 'complete' }),
      expect.objectContaining({ method: '/access.test.Greeter/Hello', grpcStatus: 5, grpcMessage: 'no such greeting: missing', outcome: 'complete' }),
      expect.objectContaining({ method: '/access.test.Greeter/Count', grpcStatus: 0, outcome: 'complete' }),
    ]);
    const show = await dave.run(['audit', 'show', id]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout, show.stdout).toMatch(/grpc\.call\s.*call \/access\.test\.Greeter\/Count\n/);
    expect(show.stdout, show.stdout).toMatch(
      /grpc\.status\s.*call \/access\.test\.Greeter\/Hello → 5 NOT_FOUND "no such greeting: missing": ↑\d+ B ↓\d+ B in \d+ ms\n/,
    );
    expect(show.stdout, show.stdout).toMatch(/grpc\.status\s.*call \/access\.test\.Greeter\/Count → 0 OK: ↑\d+ B ↓\d+ B in \d+ ms\n/);
  });

  it('ends a streaming call in flight, on both sides, within moments of a revoke', async () => {
    const stream = client.Ticks({ to: 0 });
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    await new Promise((resolve) => stream.once('data', resolve));
    const revoke = await bob.run(['revoke', firstGrant, '--reason', 'INC-16 grpc done']);
    expect(revoke.code, revoke.stderr).toBe(0);
    const revokedAt = Date.now();
    const error = await ended;
    expect(Date.now() - revokedAt).toBeLessThan(REVOKE_CUT_MS);
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    await eventually('the server to see its call cancelled', async () => (greeter.cancelledTicks() > 0 ? true : undefined));
    const session = await api.closedSession(daveToken, 'greeter', (s) => s.requestId === firstGrant);
    expect(session.endReason).toBe('grantRevoked');
    const story = await api.get<AuditShowResponse>(daveToken, `/v1/audit/show/${encodeURIComponent(session.id)}`);
    expect(story.entries.map((e) => ({ type: e.type, ...e.body }))).toContainEqual(
      expect.objectContaining({ type: 'grpc.status', method: '/access.test.Greeter/Ticks', grpcStatus: null, outcome: 'connectionClosed' }),
    );
  });
});
