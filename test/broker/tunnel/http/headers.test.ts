import { describe, expect, it } from 'vitest';
import {
  forwardedGrpcHeaders,
  forwardedRequestHeaders,
  forwardedResponseHeaders,
  hostHeaderRule,
  isOriginForm,
  isWebSocketUpgrade,
  type RequestIdentity,
} from '../../../../broker/tunnel/http/headers.js';

const alice: RequestIdentity = { oid: 'oid-alice', upn: 'alice@contoso.dev', resource: 'grafana', session: 's1', grant: 'g1', token: 'signed.jwt.here' };
const target = { host: hostHeaderRule(undefined), targetHost: 'grafana.internal:3000', upgrade: false };

/** The values of `name` (case-insensitive) in a raw list. */
function values(raw: string[], name: string): string[] {
  return raw.filter((_, i) => i % 2 === 1 && raw[i - 1]?.toLowerCase() === name);
}

describe('forwardedRequestHeaders', () => {
  it.each([
    ['X-Access-User', 'mallory@evil'],
    ['x-access-user', 'mallory@evil'],
    ['X-ACCESS-TOKEN', 'forged'],
    ['X-Access-Groups', 'sg-admins'],
    ['x-access-anything-new', 'x'],
    // CGI-style servers read X_Access_User as HTTP_X_ACCESS_USER, the same variable as X-Access-User.
    ['X_Access_User', 'mallory@evil'],
    ['x_access-user', 'mallory@evil'],
  ])('drops a client-sent %s and keeps only what the broker sets', (name, value) => {
    const out = forwardedRequestHeaders(['Host', '127.0.0.1:5000', name, value, 'Accept', '*/*'], alice, target);
    expect(out.filter((_, i) => i % 2 === 1)).not.toContain(value);
    expect(values(out, 'x-access-user')).toEqual(['alice@contoso.dev']);
    expect(values(out, 'x-access-user-id')).toEqual(['oid-alice']);
    expect(values(out, 'x-access-token')).toEqual(['signed.jwt.here']);
    expect(values(out, 'accept')).toEqual(['*/*']);
  });

  it('drops hop-by-hop headers and the ones Connection names, keeps repeated end-to-end headers apart', () => {
    const out = forwardedRequestHeaders(
      [
        'Host',
        'h',
        'Connection',
        'keep-alive, X-Hop',
        'Keep-Alive',
        'timeout=5',
        'X-Hop',
        '1',
        'Transfer-Encoding',
        'chunked',
        'Cookie',
        'a=1',
        'Cookie',
        'b=2',
      ],
      alice,
      target,
    );
    for (const name of ['connection', 'keep-alive', 'x-hop', 'transfer-encoding']) expect(values(out, name)).toEqual([]);
    expect(values(out, 'cookie')).toEqual(['a=1', 'b=2']);
  });

  it.each([
    [undefined, 'grafana.internal:3000'],
    ['target', 'grafana.internal:3000'],
    ['client', '127.0.0.1:5000'],
    ['grafana.example.com', 'grafana.example.com'],
  ])('with hostHeader %s sends Host %s, exactly once', (setting, host) => {
    const out = forwardedRequestHeaders(['Host', '127.0.0.1:5000'], alice, { ...target, host: hostHeaderRule(setting) });
    expect(values(out, 'host')).toEqual([host]);
  });

  it('says what the client asked for in X-Forwarded-Host when the Host is rewritten', () => {
    expect(values(forwardedRequestHeaders(['Host', '127.0.0.1:5000'], alice, target), 'x-forwarded-host')).toEqual(['127.0.0.1:5000']);
  });

  it('keeps Connection: Upgrade and the Upgrade header for a WebSocket handshake only', () => {
    const raw = ['Host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k'];
    const upgraded = forwardedRequestHeaders(raw, alice, { ...target, upgrade: true });
    expect(values(upgraded, 'connection')).toEqual(['Upgrade']);
    expect(values(upgraded, 'upgrade')).toEqual(['websocket']);
    expect(values(upgraded, 'sec-websocket-key')).toEqual(['k']);
    expect(values(forwardedRequestHeaders(raw, alice, target), 'upgrade')).toEqual([]);
  });

  it('names the person by object id when the token had no user name, and sends no token header when there is none', () => {
    const out = forwardedRequestHeaders(['Host', 'h'], { ...alice, upn: null, token: null }, target);
    expect(values(out, 'x-access-user')).toEqual(['oid-alice']);
    expect(values(out, 'x-access-token')).toEqual([]);
  });
});

describe('forwardedResponseHeaders', () => {
  it("drops the target's hop-by-hop headers and keeps the rest as sent", () => {
    expect(
      forwardedResponseHeaders([
        'Content-Type',
        'text/html',
        'Connection',
        'close, X-Secret-Hop',
        'X-Secret-Hop',
        '1',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
      ]),
    ).toEqual(['Content-Type', 'text/html', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
  });
});

describe('forwardedGrpcHeaders', () => {
  it("keeps the call's metadata, drops forged x-access-* metadata, sets the pseudo-headers and the identity", () => {
    const out = forwardedGrpcHeaders(
      {
        ':method': 'POST',
        ':path': '/orders.Orders/Get',
        ':scheme': 'http',
        ':authority': '127.0.0.1:5000',
        'content-type': 'application/grpc',
        te: 'trailers',
        'x-access-user': 'mallory@evil',
        'x-request-id': 'abc',
      },
      alice,
      target,
    );
    expect(out).toEqual({
      ':method': 'POST',
      ':path': '/orders.Orders/Get',
      ':scheme': 'http',
      ':authority': 'grafana.internal:3000',
      'content-type': 'application/grpc',
      'x-request-id': 'abc',
      te: 'trailers',
      'x-access-user': 'alice@contoso.dev',
      'x-access-user-id': 'oid-alice',
      'x-access-resource': 'grafana',
      'x-access-session': 's1',
      'x-access-grant': 'g1',
      'x-access-token': 'signed.jwt.here',
    });
  });
});

describe('what may be forwarded', () => {
  it.each<[string, string, boolean]>([
    ['GET', '/', true],
    ['GET', '/a?b=c', true],
    ['OPTIONS', '*', true],
    ['GET', '*', false],
    ['GET', 'http://169.254.169.254/latest/meta-data/', false],
    ['GET', 'internal.example:22', false],
  ])('%s %s: %s', (method, requestTarget, allowed) => {
    expect(isOriginForm(method, requestTarget)).toBe(allowed);
  });

  it.each<[string | null, boolean]>([
    ['websocket', true],
    ['WebSocket', true],
    ['h2c', false],
    ['websocket, h2c', false],
    [null, false],
  ])('upgrade %s: %s', (upgrade, allowed) => {
    expect(isWebSocketUpgrade(upgrade)).toBe(allowed);
  });
});
