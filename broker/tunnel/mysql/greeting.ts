// The MySQL tunnel's prepareTarget (../protocol.ts): reads the server's greeting right after the
// dial, before the WebSocket exists, and puts it back on the socket with TLS, compression and query
// attributes taken out of its capabilities (codes.ts: DECLINED_CAPABILITIES), so the client never
// asks for them and the broker reads every statement in plaintext (the client → broker leg is inside
// the tunnel's TLS already). A client configured to require TLS then fails at once and says why
// (mariadb: "SSL connection error", mysql --ssl-mode=REQUIRED: "SSL connection is required").
//
// A server that refuses the connection in its greeting (an ERR packet: too many connections, host
// blocked) or a target that is not a MySQL server is an HTTP error of the tunnel request, worded for
// the person connecting, not a session that opens and dies.

import type net from 'node:net';
import { AccessError } from '../../../shared/errors.js';
import { formatDuration } from '../../../shared/duration.js';
import { formatTarget } from '../../config/target.js';
import type { ResourcePolicy } from '../../config/types.js';
import type { PrepareTargetOptions } from '../protocol.js';
import { DECLINED_CAPABILITIES, PACKET_HEADER_BYTES, Reply } from './codes.js';
import { decodeError } from './conversation.js';
import { decodeGreeting, type Greeting, withoutCapabilities } from './messages.js';
import { packet } from './packets.js';

/** The greeting each prepared target sent: its nonce is what a stored credential's proof is computed with (inject-credential.ts). */
const greetings = new WeakMap<net.Socket, Greeting>();

/** The greeting `socket`'s server sent, when declineTlsInGreeting prepared it. */
export function greetingOf(socket: net.Socket): Greeting | null {
  return greetings.get(socket) ?? null;
}

/** A greeting is about a hundred bytes; a longer first packet is not a MySQL server's. */
const MAX_GREETING_BYTES = 1024;

type GreetingPolicy = Pick<ResourcePolicy, 'name' | 'target'>;

export async function declineTlsInGreeting(socket: net.Socket, policy: GreetingPolicy, options: PrepareTargetOptions): Promise<net.Socket> {
  const where = `${policy.name}'s target ${formatTarget(policy.target)}`;
  const fail = (why: string): AccessError =>
    new AccessError(
      'target_unreachable',
      `The broker reached ${where} but cannot open a MySQL session there: ${why}. Check that the target is a MySQL or MariaDB server.`,
    );
  try {
    const { seq, payload, rest } = await readFirstPacket(socket, options, fail);
    if (payload[0] === Reply.error) {
      const { errno, message } = decodeError(payload);
      throw new AccessError(
        'target_unreachable',
        `${where} refused the connection: ${message} (MySQL error ${errno}). Try again later, or tell whoever runs the database.`,
      );
    }
    let greeting: Greeting;
    try {
      greeting = decodeGreeting(payload);
    } catch (error) {
      throw fail(`its first packet is not a MySQL greeting (${error instanceof Error ? error.message : String(error)})`);
    }
    greetings.set(socket, greeting);
    // Back on the socket, so the relay sends the client this greeting first (and anything after it).
    socket.unshift(Buffer.concat([packet(seq, withoutCapabilities(payload, greeting, DECLINED_CAPABILITIES)), rest]));
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/**
 * The first packet, read in paused mode (never 'data', so nothing is lost before the relay listens):
 * its seq, payload, and any bytes after it.
 */
function readFirstPacket(
  socket: net.Socket,
  options: PrepareTargetOptions,
  fail: (why: string) => AccessError,
): Promise<{ seq: number; payload: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const held: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(() => done(fail(`it sent no greeting within ${formatDuration(options.timeoutMs)}`)), options.timeoutMs);
    const onAbort = (): void => done(new Error('the client went away'));
    const onError = (error: Error): void => done(fail(error.message));
    const onClose = (): void => done(fail('it closed the connection without a greeting'));
    const onReadable = (): void => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        held.push(chunk);
        length += chunk.length;
      }
      if (length < PACKET_HEADER_BYTES) return;
      const bytes = Buffer.concat(held);
      const size = bytes.readUIntLE(0, 3);
      if (size > MAX_GREETING_BYTES) {
        done(fail(`its first packet claims ${size} bytes`));
        return;
      }
      if (bytes.length < PACKET_HEADER_BYTES + size) return;
      const end = PACKET_HEADER_BYTES + size;
      done(null, { seq: bytes[3] as number, payload: bytes.subarray(PACKET_HEADER_BYTES, end), rest: bytes.subarray(end) });
    };
    const done = (error: Error | null, packet?: { seq: number; payload: Buffer; rest: Buffer }): void => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      socket.off('readable', onReadable);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(packet as { seq: number; payload: Buffer; rest: Buffer });
    };
    if (options.signal.aborted) {
      done(new Error('the client went away'));
      return;
    }
    options.signal.addEventListener('abort', onAbort);
    socket.on('readable', onReadable);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
