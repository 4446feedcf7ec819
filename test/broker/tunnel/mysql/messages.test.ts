// The handshake the broker sends for a stored login keeps what the client said about itself and
// replaces only who logs in and the proof; the greeting decodes as a server sends it.

import { describe, expect, it } from 'vitest';
import { Capability } from '../../../../broker/tunnel/mysql/codes.js';
import { decodeGreeting, decodeHandshakeResponse, withLogin } from '../../../../broker/tunnel/mysql/messages.js';
import { greeting, handshake } from './wire.js';

const payload = (packet: Buffer): Buffer => packet.subarray(4);

describe('withLogin', () => {
  it("puts the stored user, proof and plugin in the client's handshake and keeps its database, capabilities and attributes", () => {
    const client = payload(handshake('whoever', 'shop'));
    const proof = Buffer.alloc(20, 0x5a);
    const rewritten = withLogin(client, { user: 'app_owner', proof, plugin: 'mysql_native_password', database: 'fallback' });
    const before = decodeHandshakeResponse(client);
    const after = decodeHandshakeResponse(rewritten);
    expect(after).toEqual({ ...before, user: 'app_owner', database: 'shop', authPlugin: 'mysql_native_password' });
    expect(rewritten.includes(proof)).toBe(true);
    expect(rewritten.subarray(4, 32)).toEqual(client.subarray(4, 32));
  });

  it("names the resource's database when the client named none", () => {
    const client = payload(handshake('whoever', null));
    const after = decodeHandshakeResponse(withLogin(client, { user: 'app', proof: Buffer.alloc(0), plugin: 'mysql_native_password', database: 'orders' }));
    expect(after.database).toBe('orders');
    expect(after.capabilities & Capability.connectWithDb).toBe(Capability.connectWithDb);
    expect(after.program).toBe('rec-client');
  });
});

describe('decodeGreeting', () => {
  it('reads the connection id, the 20-byte nonce and the proposed plugin', () => {
    const decoded = decodeGreeting(payload(greeting(4242)));
    expect(decoded).toMatchObject({ connectionId: 4242, serverVersion: '10.11.19-MariaDB', authPlugin: 'mysql_native_password' });
    expect(decoded.scramble).toEqual(Buffer.concat([Buffer.alloc(8, 0x41), Buffer.alloc(12, 0x42)]));
  });
});
