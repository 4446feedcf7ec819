// The Postgres preamble answers a client's encryption requests with 'N' on the broker's behalf,
// forwards none, and then stands aside with the client's bytes unchanged; one request too many
// ends the session instead of reaching the server.

import { describe, expect, it } from 'vitest';
import { DeclineEncryption, MAX_NEGOTIATION_REQUESTS } from '../../../../broker/tunnel/postgres/ssl-decline.js';
import { gssencRequest, query, sslRequest, startup } from './frontend.js';

interface Outcome {
  answers: string[];
  forwarded: Buffer;
  /** The chunk index at which the preamble said it was done (null: never). */
  doneAt: number | null;
  /** Why it refused, when it did (the relay then ends the session and forwards nothing more). */
  refused?: string;
}

function run(chunks: Buffer[]): Outcome {
  const preamble = new DeclineEncryption();
  const answers: string[] = [];
  const forwarded: Buffer[] = [];
  let doneAt: number | null = null;
  let refused: string | undefined;
  chunks.forEach((chunk, index) => {
    if (refused !== undefined) return; // the session has ended
    if (doneAt !== null) {
      forwarded.push(chunk); // the relay's plain path
      return;
    }
    const step = preamble.take(chunk, (bytes) => answers.push(bytes.toString('latin1')));
    if ('refuse' in step) {
      refused = step.refuse;
      return;
    }
    forwarded.push(step.forward);
    if ('done' in step && step.done) doneAt = index;
  });
  return { answers, forwarded: Buffer.concat(forwarded), doneAt, ...(refused === undefined ? {} : { refused }) };
}

const START = startup({ user: 'postgres', database: 'test' });

describe('DeclineEncryption', () => {
  it('answers an SSLRequest with N, forwards none of it, and forwards the startup message unchanged', () => {
    const outcome = run([sslRequest(), START, query('select 1')]);
    expect(outcome).toEqual({ answers: ['N'], forwarded: Buffer.concat([START, query('select 1')]), doneAt: 1 });
  });

  it('declines a GSSENCRequest and then an SSLRequest, as libpq sends them with gssencmode=prefer', () => {
    // It stands aside only at the startup message: a request after these two would be refused.
    expect(run([gssencRequest(), sslRequest(), START])).toEqual({ answers: ['N', 'N'], forwarded: START, doneAt: 2 });
  });

  it('declines a request split at every byte boundary, with the startup in the same chunks', () => {
    const stream = Buffer.concat([sslRequest(), START]);
    for (let at = 1; at < stream.length; at++) {
      const outcome = run([stream.subarray(0, at), stream.subarray(at)]);
      expect(outcome.answers).toEqual(['N']);
      expect(outcome.forwarded).toEqual(START);
    }
  });

  it('stands aside at once, forwarding everything, for a client that starts without a request', () => {
    expect(run([Buffer.concat([START, query('select 1')])])).toEqual({ answers: [], forwarded: Buffer.concat([START, query('select 1')]), doneAt: 0 });
  });

  it('stands aside on bytes that only begin like a request', () => {
    const lookalike = Buffer.from('0000000804d21600', 'hex');
    expect(run([lookalike.subarray(0, 3), lookalike.subarray(3)])).toEqual({ answers: [], forwarded: lookalike, doneAt: 1 });
  });

  it('waits on an empty frame without deciding', () => {
    expect(run([Buffer.alloc(0), sslRequest(), START])).toEqual({ answers: ['N'], forwarded: START, doneAt: 2 });
  });

  it(`refuses a request beyond the first ${MAX_NEGOTIATION_REQUESTS} and never forwards it (a TLS server would answer 'S')`, () => {
    const outcome = run([sslRequest(), sslRequest(), sslRequest(), START]);
    expect(outcome).toEqual({
      answers: ['N', 'N'],
      forwarded: Buffer.alloc(0),
      doneAt: null,
      refused: 'the client sent one more encryption request (SSLRequest) after 2; a Postgres client sends at most 2',
    });
  });

  it('refuses one request too many even when all arrive in one chunk, or split at any byte', () => {
    const stream = Buffer.concat([gssencRequest(), sslRequest(), gssencRequest(), START]);
    expect(run([stream])).toMatchObject({ answers: ['N', 'N'], forwarded: Buffer.alloc(0), refused: expect.stringContaining('GSSENCRequest') });
    for (let at = 1; at < stream.length; at++) {
      expect(run([stream.subarray(0, at), stream.subarray(at)])).toMatchObject({
        answers: ['N', 'N'],
        forwarded: Buffer.alloc(0),
        refused: expect.any(String),
      });
    }
  });
});
