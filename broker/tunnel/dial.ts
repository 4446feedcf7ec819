// Dialling a resource's target for a tunnel. It happens during the HTTP upgrade, before any
// WebSocket exists, so a target that is down is an HTTP 502 naming it, never a tunnel that opens
// and closes at once.

import net from 'node:net';
import { formatDuration } from '../../shared/duration.js';
import { AccessError } from '../../shared/errors.js';
import { formatTarget, type Target } from '../config/target.js';
import { connectWithReads, type TargetReads } from './target-reads.js';

/**
 * How long the broker waits for a target to accept (DNS lookup included). A healthy target on the
 * broker's network answers in milliseconds; ten seconds covers a slow resolver or a busy server,
 * and a person waiting on `access connect` hears about a dead one soon.
 */
export const TARGET_CONNECT_TIMEOUT_MS = 10_000;
/**
 * TCP keepalive on the target connection: a target host that vanished (power loss, a firewall
 * dropping state) surfaces as an error within minutes instead of a tunnel that hangs forever.
 */
export const TARGET_KEEPALIVE_DELAY_MS = 60_000;

export interface DialOptions {
  /** The resource's name, for the message. */
  resource: string;
  timeoutMs: number;
  /** Aborts the dial (the client went away meanwhile). */
  signal?: AbortSignal;
  /** Read the target into reused memory (target-reads.ts); the socket then stays paused until the relay resumes it. */
  reads?: TargetReads;
}

/** Connects to `target`; rejects with AccessError `target_unreachable` naming it and the cause. */
export function dialTarget(target: Target, options: DialOptions): Promise<net.Socket> {
  const where = formatTarget(target);
  return new Promise<net.Socket>((resolve, reject) => {
    const address = { host: target.host, port: target.port };
    const socket = options.reads ? connectWithReads(address, options.reads) : net.connect(address);
    const settle = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('connect', onConnect);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (why: string, cause?: unknown): void => {
      settle();
      socket.destroy();
      reject(
        new AccessError(
          'target_unreachable',
          `The broker cannot connect to ${options.resource}'s target ${where}: ${why}. ` +
            'The service may be down or unreachable from the broker; try again shortly, or tell whoever runs it.',
          { cause },
        ),
      );
    };
    const onError = (error: Error): void => fail(describeSocketError(error), error);
    const onAbort = (): void => fail('the client went away while the broker was connecting');
    const onConnect = (): void => {
      settle();
      // Interactive protocols (psql, ssh) send small packets; Nagle would hold each back for an ACK.
      socket.setNoDelay(true);
      socket.setKeepAlive(true, TARGET_KEEPALIVE_DELAY_MS);
      resolve(socket);
    };
    const timer = setTimeout(() => fail(`no answer within ${formatDuration(options.timeoutMs)}`), options.timeoutMs);
    socket.once('error', onError);
    socket.once('connect', onConnect);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * "connect ECONNREFUSED 127.0.0.1:5432". With happy eyeballs (a name resolving to IPv4 and IPv6)
 * Node reports an AggregateError whose own message is empty: its attempts say what happened.
 */
export function describeSocketError(error: Error): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map((inner: unknown) => (inner instanceof Error ? describeSocketError(inner) : String(inner))).join('; ');
  }
  if (error.message) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  return code ?? 'the connection failed';
}
