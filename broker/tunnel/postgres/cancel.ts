// Cancels the query a Postgres backend is running, the way a client does (psql's Ctrl-C): a new
// connection to the server that sends only a CancelRequest naming the backend's process id and
// secret key (read by backend-key.ts). The broker does this when it cuts a tunnel itself (revoke,
// expiry, membership lost, idle, shutdown): PostgreSQL does not notice a closed client socket
// while a query runs, so without it a `select pg_sleep(600)` or a long UPDATE would go on, holding
// its locks, after access ended. Once cancelled, the backend writes the error to the tunnel's
// closed socket, reads end-of-file and exits.

import { formatDuration } from '../../../shared/duration.js';
import type { ResourcePolicy } from '../../config/types.js';
import { dialTarget } from '../dial.js';
import type { BackendKey } from './backend-key.js';
import { CANCEL_REQUEST_CODE } from './codes.js';
import { secureTarget } from './target-tls.js';

/**
 * How long each step of a cancel may take: the dial, TLS, and the server closing the connection
 * after reading the request. The target answered the tunnel's own dial moments ago; five seconds
 * covers a busy server while keeping a shutdown that waits for its cancels short.
 */
export const CANCEL_TIMEOUT_MS = 5_000;
/** length (4) + code (4) + process id (4), then the secret key. */
const CANCEL_HEADER_BYTES = 12;

type CancelPolicy = Pick<ResourcePolicy, 'name' | 'target' | 'targetTls' | 'targetCa'>;

/** The CancelRequest message for `key`. */
export function cancelRequest(key: BackendKey): Buffer {
  const message = Buffer.alloc(CANCEL_HEADER_BYTES + key.secret.length);
  message.writeInt32BE(message.length, 0);
  message.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  message.writeInt32BE(key.pid, 8);
  key.secret.copy(message, CANCEL_HEADER_BYTES);
  return message;
}

/**
 * Sends a CancelRequest for `key` to the resource's target (over TLS unless `targetTls: disable`)
 * and resolves once the server closed that connection, which it does after reading the request.
 * Rejects with the cause (AccessError for the dial and TLS); each step is bounded by `timeoutMs`.
 */
export async function cancelBackend(policy: CancelPolicy, key: BackendKey, timeoutMs: number = CANCEL_TIMEOUT_MS): Promise<void> {
  const plain = await dialTarget(policy.target, { resource: policy.name, timeoutMs });
  // Nobody waits on the other end to give up early: the timeouts bound each step.
  const socket = await secureTarget(plain, policy, { timeoutMs, signal: new AbortController().signal });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the cancel connection within ${formatDuration(timeoutMs)}`));
    }, timeoutMs);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    // The server sends nothing back; reading keeps the socket flowing so its FIN is seen.
    socket.resume();
    socket.end(cancelRequest(key));
  });
}
