// The Postgres preamble: a client may open with SSLRequest or GSSENCRequest (8 bytes each) and
// wait for a one-byte answer. The broker answers 'N' itself and forwards neither: the client →
// broker leg already runs inside the WebSocket's TLS, and the broker must see the session in
// plaintext to record its queries. The database never sees a request; whether the broker →
// database leg is TLS is the resource's `targetTls`, set up before the tunnel opened.
//
// The client then sends its StartupMessage, which ends the preamble. A client that insists on
// encryption (sslmode=require, gssencmode=require) and reaches the broker with its request closes
// the connection after the 'N', with libpq's "server does not support SSL, but SSL was required".
// `access connect` spares it that: its listener answers the SSLRequest itself and terminates TLS
// on the loopback (cli/tunnel/local-tls.ts), so what arrives here is already the plaintext startup.
//
// Fail closed: no request is ever passed to the database. One beyond MAX_NEGOTIATION_REQUESTS is
// refused, which ends the session: passed on, a TLS-capable server would answer 'S' and the client
// would speak TLS to it through the tunnel, where the query log cannot read a byte.

import type { ClientPreamble, PreambleStep } from '../protocol.js';
import { describeRequest, ENCRYPTION_DECLINED, GSSENC_REQUEST_CODE, NEGOTIATION_REQUEST_BYTES, SSL_REQUEST_CODE } from './codes.js';

/**
 * Requests answered before the preamble refuses. libpq sends at most two (GSSENCRequest, then
 * SSLRequest after a refusal), and PostgreSQL itself answers at most one of each: more is not a
 * Postgres client.
 */
export const MAX_NEGOTIATION_REQUESTS = 2;

const SSL_REQUEST = negotiationRequest(SSL_REQUEST_CODE);
const GSSENC_REQUEST = negotiationRequest(GSSENC_REQUEST_CODE);
const DECLINED = Buffer.from([ENCRYPTION_DECLINED]);
const NOTHING = Buffer.alloc(0);

function negotiationRequest(code: number): Buffer {
  const bytes = Buffer.alloc(NEGOTIATION_REQUEST_BYTES);
  bytes.writeInt32BE(NEGOTIATION_REQUEST_BYTES, 0);
  bytes.writeInt32BE(code, 4);
  return bytes;
}

export class DeclineEncryption implements ClientPreamble {
  /** The start of a possible request split across chunks (at most 7 bytes). */
  #pending: Buffer | null = null;
  #answered = 0;

  take(chunk: Buffer, answer: (bytes: Buffer) => void): PreambleStep {
    let data = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = null;
    for (;;) {
      // Nothing to decide on yet (an empty frame, or the chunk ended right after a request).
      if (data.length === 0) return { forward: NOTHING, done: false };
      const head = data.subarray(0, NEGOTIATION_REQUEST_BYTES);
      if (!isRequestPrefix(head)) return { forward: data, done: true };
      if (head.length < NEGOTIATION_REQUEST_BYTES) {
        // Copied: the relay's chunk is not ours to keep past this call.
        this.#pending = Buffer.from(head);
        return { forward: NOTHING, done: false };
      }
      if (this.#answered === MAX_NEGOTIATION_REQUESTS) {
        const what = describeRequest(head.readInt32BE(4));
        return {
          refuse: `the client sent one more encryption request (${what}) after ${MAX_NEGOTIATION_REQUESTS}; a Postgres client sends at most ${MAX_NEGOTIATION_REQUESTS}`,
        };
      }
      answer(DECLINED);
      this.#answered++;
      // A client waits for the answer before it sends more, so this usually empties the chunk.
      data = data.subarray(NEGOTIATION_REQUEST_BYTES);
    }
  }
}

/** Whether `head` (up to 8 bytes) is, or may still become, an SSLRequest or a GSSENCRequest. */
function isRequestPrefix(head: Buffer): boolean {
  return head.equals(SSL_REQUEST.subarray(0, head.length)) || head.equals(GSSENC_REQUEST.subarray(0, head.length));
}
