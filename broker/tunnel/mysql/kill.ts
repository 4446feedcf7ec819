// Ends the statement a MySQL/MariaDB connection is running, the way `mysql`'s Ctrl-C does: a new
// connection to the server that runs `KILL QUERY <connection id>` (the id from the session's
// greeting). The broker does this when it cuts a tunnel itself (revoke, expiry, membership lost,
// idle, shutdown): the server does not notice a closed client socket while a statement runs, so
// without it a `SELECT SLEEP(600)` or a long UPDATE would go on, holding its locks, after access
// ended. KILL QUERY (not KILL CONNECTION) ends the statement; the connection then reads the
// tunnel's closed socket and goes.
//
// The kill logs in as the session's own database user (a user may kill its own statements without
// the PROCESS/CONNECTION ADMIN privilege), with the stored login's password when the session ran
// as one (credential injection), else an empty one: without a stored credential the broker never
// knows the user's password, so the kill works only for users without one, and otherwise fails with
// the server's refusal, which the endpoint logs (the statement then runs to its end).

import { formatDuration } from '../../../shared/duration.js';
import type { ResourcePolicy } from '../../config/types.js';
import { dialTarget } from '../dial.js';
import { Conversation } from './conversation.js';

/**
 * How long the whole kill may take: the dial, the login and the KILL's answer. The target answered
 * the tunnel's own dial moments ago; five seconds covers a busy server while keeping a shutdown that
 * waits for its kills short.
 */
export const KILL_TIMEOUT_MS = 5_000;

export interface DatabaseLogin {
  user: string;
  password: string;
}

/** Logs in to the resource's target as `login` and kills the statement connection `connectionId` runs. */
export async function killQuery(
  policy: Pick<ResourcePolicy, 'name' | 'target'>,
  login: DatabaseLogin,
  connectionId: number,
  timeoutMs: number = KILL_TIMEOUT_MS,
): Promise<void> {
  const socket = await dialTarget(policy.target, { resource: policy.name, timeoutMs });
  const timer = setTimeout(() => socket.destroy(new Error(`the server did not answer the kill within ${formatDuration(timeoutMs)}`)), timeoutMs);
  try {
    const conversation = new Conversation(socket);
    await conversation.login(login.user, login.password);
    // The id is a number the broker read from the greeting, never text from the client.
    await conversation.run(`KILL QUERY ${Math.trunc(connectionId)}`);
    conversation.quit();
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}
