// What the broker answers when Node's HTTP parser refuses a request before any handler sees it
// (a request line or headers above Node's 16 KiB limit, bytes that are not HTTP, a client too slow
// to send its headers). Node's own answer is a bare status line without a body; ours is the same
// `{ code, message }` every other refusal carries, so a client (or a fuzzer) never meets a second
// error format.

import type { Duplex } from 'node:stream';
import { AccessError } from '../../shared/errors.js';
import { refuseUpgrade } from './upgrade.js';

/** The refusal for a parser error (`err.code` as Node sets it on the `clientError` event). */
export function clientErrorRefusal(code: string | undefined): AccessError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new AccessError(
        'headers_too_large',
        'the request line and headers are larger than the broker accepts (16 KiB) — send a shorter URL or fewer headers',
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AccessError('request_timeout', 'the request was not received in time — send it again');
    default:
      return new AccessError('bad_request', `the request is not valid HTTP (${code ?? 'unknown parser error'})`);
  }
}

/** A `clientError` listener for the broker's HTTP server. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset client hears nothing; a socket already answering (or gone) is only closed.
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  refuseUpgrade(socket, clientErrorRefusal(error.code));
}
