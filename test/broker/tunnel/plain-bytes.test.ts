// Which kinds the relay may read into reused slabs: only those whose target bytes nothing else reads.

import { describe, expect, it } from 'vitest';
import type { ResourceKind } from '../../../broker/config/types.js';
import { relayedAsPlainBytes } from '../../../broker/tunnel/protocols.js';

describe('relayedAsPlainBytes', () => {
  it.each<[ResourceKind, boolean]>([
    ['tcp', true],
    ['ssh', true],
    // The broker reads these targets itself: logins, statement capture, the http/grpc gateway.
    ['postgres', false],
    ['mysql', false],
    ['http', false],
    ['grpc', false],
  ])('%s → %s', (kind, plain) => {
    expect(relayedAsPlainBytes(kind)).toBe(plain);
  });
});
