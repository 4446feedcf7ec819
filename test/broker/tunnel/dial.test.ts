// Dialling a target: connected sockets come back ready for a relay; failures are target_unreachable
// naming the target and the cause; a client that leaves stops the dial.

import { describe, expect, it } from 'vitest';
import { describeSocketError, dialTarget } from '../../../broker/tunnel/dial.js';
import { AccessError } from '../../../shared/errors.js';
import { closedPort, echo, startTarget } from './harness.js';

describe('dialTarget', () => {
  it('connects and hands back the socket', async () => {
    const target = await startTarget(echo);
    try {
      const socket = await dialTarget({ host: '127.0.0.1', port: target.port }, { resource: 'db', timeoutMs: 5_000 });
      expect(socket.remotePort).toBe(target.port);
      socket.destroy();
    } finally {
      await target.close();
    }
  });

  it('refuses with target_unreachable naming the resource, host:port and the error', async () => {
    const port = await closedPort();
    const error = await dialTarget({ host: '127.0.0.1', port }, { resource: 'db', timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessError);
    expect(error).toMatchObject({ code: 'target_unreachable', status: 502 });
    expect((error as AccessError).message).toContain(`db's target 127.0.0.1:${port}`);
    expect((error as AccessError).message).toContain('ECONNREFUSED');
  });

  it('gives up when the client has gone away', async () => {
    const target = await startTarget(echo);
    try {
      const abort = new AbortController();
      abort.abort();
      const error = await dialTarget({ host: '127.0.0.1', port: target.port }, { resource: 'db', timeoutMs: 5_000, signal: abort.signal }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'target_unreachable', message: expect.stringContaining('the client went away') });
    } finally {
      await target.close();
    }
  });
});

describe('describeSocketError', () => {
  it('spells out each attempt of a happy-eyeballs failure, whose own message is empty', () => {
    const v6 = Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' });
    const v4 = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(describeSocketError(new AggregateError([v6, v4], ''))).toBe('connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
  });

  it('falls back to the error code', () => {
    expect(describeSocketError(Object.assign(new Error(''), { code: 'EHOSTUNREACH' }))).toBe('EHOSTUNREACH');
  });
});
