// The retry policy as a table: which failures are worth another attempt, for which calls, how many
// attempts in all, and the pause between them. A refusal by the broker itself is never retried.

import { describe, expect, it } from 'vitest';
import {
  answerFailure,
  BROKER_CALL_ATTEMPTS,
  backoffMs,
  type CallFailure,
  connectionFailure,
  describeFailures,
  isRepeatable,
  RETRY_BACKOFF_MS,
  shouldRetry,
} from '../../cli/broker-retry.js';
import type { ErrorCode } from '../../shared/errors.js';

const refused: CallFailure = { what: 'ECONNREFUSED', mayHaveReachedBroker: false };
const reset: CallFailure = { what: 'ECONNRESET', mayHaveReachedBroker: true };
const edge: CallFailure = { what: 'HTTP 503 from the load balancer', mayHaveReachedBroker: true };

describe('which failures are worth another attempt', () => {
  it.each([
    ['ECONNREFUSED', refused],
    ['ECONNRESET', reset],
    ['EPIPE', { what: 'EPIPE', mayHaveReachedBroker: true }],
    ['ENOTFOUND', null],
    ['ETIMEDOUT', null],
    ['CERT_HAS_EXPIRED', null],
    [undefined, null],
  ])('connection error %s → %o', (code, expected) => {
    expect(connectionFailure(code)).toEqual(expected);
  });

  it.each<[number, ErrorCode | null, CallFailure | null]>([
    [502, null, { what: 'HTTP 502 from the load balancer', mayHaveReachedBroker: true }],
    [503, null, edge],
    [504, null, { what: 'HTTP 504 from the load balancer', mayHaveReachedBroker: true }],
    [503, 'shutting_down', { what: 'the broker answered shutting_down', mayHaveReachedBroker: false }],
    [503, 'not_ready', { what: 'the broker answered not_ready', mayHaveReachedBroker: false }],
    // The broker's own errors are its answer, even with a 5xx status.
    [503, 'directory_unavailable', null],
    [503, 'store_unavailable', null],
    [500, null, null],
    [500, 'internal', null],
    [400, 'bad_request', null],
    [401, 'token_expired', null],
    [401, null, null],
    [403, 'forbidden', null],
    [404, null, null],
    [409, 'already_reviewed', null],
    [429, 'rate_limited', null],
  ])('answer %i with code %s → %o', (status, code, expected) => {
    expect(answerFailure(status, code)).toEqual(expected);
  });
});

describe('which calls are repeated after which failures', () => {
  it('repeats only reads whatever happened to them', () => {
    expect([isRepeatable('GET'), isRepeatable('HEAD'), isRepeatable('POST'), isRepeatable('PUT'), isRepeatable('DELETE')]).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it.each<[string, CallFailure, boolean]>([
    ['GET', refused, true],
    ['GET', reset, true],
    ['GET', edge, true],
    // An action is repeated only when it surely reached no broker.
    ['POST', refused, true],
    ['POST', { what: 'the broker answered shutting_down', mayHaveReachedBroker: false }, true],
    ['POST', reset, false],
    ['POST', edge, false],
  ])('%s after %o: retried %s', (method, failure, retried) => {
    expect(shouldRetry(method, failure, 1)).toBe(retried);
  });

  it(`makes ${BROKER_CALL_ATTEMPTS} attempts in all, then stops`, () => {
    expect(BROKER_CALL_ATTEMPTS).toBe(3);
    const attempts = [1, 2, 3, 4].map((attempt) => shouldRetry('GET', reset, attempt));
    expect(attempts).toEqual([true, true, false, false]);
  });

  it('pauses RETRY_BACKOFF_MS before the second attempt, doubling before each later one', () => {
    expect(RETRY_BACKOFF_MS).toBe(200);
    expect([backoffMs(1), backoffMs(2)]).toEqual([RETRY_BACKOFF_MS, 2 * RETRY_BACKOFF_MS]);
  });
});

describe('the failures in words', () => {
  it('says one failure as it is, repeated ones once with the count, different ones in order', () => {
    expect(describeFailures([refused])).toBe('ECONNREFUSED');
    expect(describeFailures([reset, reset, reset])).toBe('ECONNRESET, 3 attempts');
    expect(describeFailures([reset, edge, refused])).toBe('3 attempts: ECONNRESET; HTTP 503 from the load balancer; ECONNREFUSED');
  });
});
