// Fakes for command tests: a CliContext over PassThrough streams, a broker client that records
// calls and answers from a script, and an events stream the test pushes items into.

import { PassThrough } from 'node:stream';
import { CommanderError } from 'commander';
import { AccessError } from '../../../shared/errors.js';
import type { ApprovalView, RequestView } from '../../../shared/wire.js';
import type { BrokerClient } from '../../../cli/broker-client.js';
import type { BrokerConnection } from '../../../cli/broker-connection.js';
import { BrokerTrust } from '../../../cli/broker-trust.js';
import type { CliContext } from '../../../cli/context.js';
import type { EventStream, StreamItem } from '../../../cli/events-client.js';
import { buildProgram, describeFailure } from '../../../cli/main.js';
import { Output } from '../../../cli/output.js';
import type { Prompts } from '../../../cli/prompts.js';
import { requestView } from '../../helpers/request-views.js';

/** 2025-03-04 12:00 UTC; tests read times through the functions under test, never the real clock. */
export const NOW = Date.UTC(2025, 2, 4, 12, 0, 0);

export function makeView(overrides: Partial<RequestView> = {}): RequestView {
  return requestView(NOW - 120_000, { ticket: 'INC-4211', ...overrides });
}

export function approvedView(overrides: Partial<RequestView> = {}): RequestView {
  return makeView({
    state: 'approved',
    approvals: 1,
    reviews: [{ reviewer: { oid: 'oid-bob', upn: 'bob@contoso.com' }, decision: 'approve', comment: null, at: new Date(NOW - 1000).toISOString() }],
    grantedAt: new Date(NOW - 1000).toISOString(),
    expiresAt: new Date(NOW - 1000 + 3_600_000).toISOString(),
    ...overrides,
  });
}

export const carol = { oid: 'oid-carol', upn: 'carol@contoso.com' };

/** A pending request by carol needing 2 approvals, as GET /v1/approvals shows it. */
export function makeApproval(overrides: Partial<ApprovalView> = {}): ApprovalView {
  return {
    ...makeView({ requester: carol, approvalsRequired: 2 }),
    requesterGroups: [{ id: 'g1', displayName: 'sg-eng' }],
    recent: [],
    ...overrides,
  };
}

export interface Call {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
}

type Handler = (call: Call) => unknown;

/** A stand-in for BrokerClient: answers from `routes` ("POST /v1/requests" → handler), records every call. */
export class FakeClient {
  readonly calls: Call[] = [];
  readonly #routes: Map<string, Handler>;
  readonly #log: string[];

  constructor(routes: Record<string, Handler>, log: string[]) {
    this.#routes = new Map(Object.entries(routes));
    this.#log = log;
  }

  get<T>(path: string): Promise<T> {
    return this.#call<T>({ method: 'GET', path });
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>({ method: 'POST', path, body });
  }

  async #call<T>(call: Call): Promise<T> {
    this.calls.push(call);
    this.#log.push(`${call.method} ${call.path}`);
    const handler = this.#routes.get(`${call.method} ${call.path}`);
    if (!handler) throw new AccessError('not_found', `fake broker has no route ${call.method} ${call.path}`);
    return handler(call) as T;
  }
}

/** An events stream the test scripts: items pushed before anyone reads are buffered, like the real one. */
export class FakeEvents implements EventStream {
  closed = false;
  readonly #queue: StreamItem[] = [];
  #wake: (() => void) | null = null;

  push(...items: StreamItem[]): void {
    this.#queue.push(...items);
    this.#wake?.();
  }

  close(): void {
    this.closed = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamItem> {
    for (;;) {
      const item = this.#queue.shift();
      if (item) {
        yield item;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }
}

/** Prompts that answer from a list (in order) and record the questions. */
export function scriptedPrompts(answers: string[]): Prompts & { asked: string[] } {
  const asked: string[] = [];
  const next = (message: string): string => {
    asked.push(message);
    const answer = answers.shift();
    if (answer === undefined) throw new Error(`unexpected question: ${message}`);
    return answer;
  };
  return {
    interactive: true,
    asked,
    text: async (q) => next(q.message),
    select: async <T extends string>(q: { message: string }) => next(q.message) as T,
  };
}

export interface Harness {
  ctx: CliContext;
  client: FakeClient;
  events: FakeEvents;
  /** Everything in order: "events" when the stream was opened, "METHOD path" per call. */
  log: string[];
  /** What the command reads as its raw stdin (`access connect --stdio`). */
  stdin: PassThrough;
  stdout: () => string;
  stderr: () => string;
  /** Presses Ctrl-C. */
  interrupt: () => void;
  /** Runs `access ...argv` through commander and the top-level catch, like cli/main.ts; returns the exit code. */
  run: (...argv: string[]) => Promise<number>;
}

/**
 * A CLI context over PassThrough streams. `connection` replaces the fake broker (client and events)
 * with a real one, for tests against a broker on a socket.
 */
/** The tunnel opener of a connection whose tests open no tunnel. */
export async function noTunnels(): Promise<never> {
  throw new AccessError('not_found', 'this test broker opens no tunnels');
}

export function harness(options: { routes?: Record<string, Handler>; tty?: boolean; prompts?: Prompts; connection?: BrokerConnection } = {}): Harness {
  const tty = options.tty ?? false;
  const stdout = Object.assign(new PassThrough(), { isTTY: tty });
  const stderr = Object.assign(new PassThrough(), { isTTY: tty });
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const log: string[] = [];
  const client = new FakeClient(options.routes ?? {}, log);
  const events = new FakeEvents();
  const listeners = new Set<() => void>();
  const fake = {
    brokerUrl: 'http://127.0.0.1:4780',
    session: {} as BrokerConnection['session'],
    client: client as unknown as BrokerClient,
    openEvents: async () => {
      log.push('events');
      return events;
    },
    trust: BrokerTrust.publicRoots(),
    openTunnel: noTunnels,
  } satisfies BrokerConnection;
  const connection = options.connection ?? fake;
  const refuse = (): never => {
    throw new AccessError('usage', 'no terminal (fake)');
  };
  const ctx: CliContext = {
    env: { NO_COLOR: '1' },
    home: '/nonexistent',
    out: new Output({ stdout, stderr }, { NO_COLOR: '1' }),
    stdio: { stdin, stdout },
    stdinIsTTY: tty,
    now: () => NOW,
    connect: async () => {
      log.push('connect');
      return connection;
    },
    prompts: options.prompts ?? { interactive: false, text: async () => refuse(), select: async () => refuse() },
    onInterrupt: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const run = async (...argv: string[]): Promise<number> => {
    let exit = 0;
    const program = buildProgram(ctx, (code) => (exit = code));
    program.configureOutput({ writeOut: (t) => stdout.write(t), writeErr: (t) => stderr.write(t) });
    try {
      await program.parseAsync(['node', 'access', ...argv]);
      return exit;
    } catch (error) {
      if (error instanceof CommanderError) return 2;
      const failure = describeFailure(error, false);
      ctx.out.notice(failure.message);
      return failure.exit;
    }
  };
  return {
    ctx,
    client,
    events,
    log,
    stdin,
    stdout: () => out,
    stderr: () => err,
    interrupt: () => {
      for (const listener of [...listeners]) listener();
    },
    run,
  };
}
