// The Host names a broker answers to (the DNS rebinding defence), decided from the listener's
// address, the origins it advertises and its certificate's names.

import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { certificateHostNames, HostAllowList } from '../../../broker/http/host-allow-list.js';

const loopback = { address: '127.0.0.1', family: 'IPv4', port: 4780 };

function request(host: string | undefined): IncomingMessage {
  return { headers: host === undefined ? {} : { host } } as IncomingMessage;
}

describe('HostAllowList', () => {
  it.each(['127.0.0.1:4780', 'localhost:4780', 'LOCALHOST:4780', '[::1]:4780'])('answers a loopback listener by %s', (host) => {
    expect(HostAllowList.forListener(loopback, 'http').allows(host)).toBe(true);
  });

  it.each([
    ['a rebinding name', 'evil.example:4780'],
    ['a rebinding name without a port', 'evil.example'],
    ['the right name on another port', '127.0.0.1:80'],
    ['no Host at all', undefined],
  ])('refuses %s', (_case, host) => {
    expect(HostAllowList.forListener(loopback, 'http').allows(host)).toBe(false);
  });

  it('refuses with host_not_allowed (421), quoting the Host and naming one it answers to', () => {
    expect(() => HostAllowList.forListener(loopback, 'http').check(request('evil.example:4780'))).toThrow(
      expect.objectContaining({ code: 'host_not_allowed', status: 421, message: expect.stringMatching(/Host "evil\.example:4780".*127\.0\.0\.1:4780/) }),
    );
  });

  it('answers to the origins it advertises and its certificate names', () => {
    const hosts = HostAllowList.forListener(loopback, 'https', { origins: ['https://dev.example:8443'], names: ['broker.corp.test'] });
    expect(hosts.allows('dev.example:8443')).toBe(true);
    expect(hosts.allows('broker.corp.test:4780')).toBe(true);
  });

  it('leaves the port out only where a browser does: the scheme default', () => {
    expect(HostAllowList.forListener({ ...loopback, port: 443 }, 'https').allows('localhost')).toBe(true);
    expect(HostAllowList.forListener(loopback, 'https').allows('localhost')).toBe(false);
  });

  it("answers a wildcard listener by the machine's own addresses and host name", () => {
    const hosts = HostAllowList.forListener({ address: '0.0.0.0', family: 'IPv4', port: 4780 }, 'https');
    expect(hosts.allows(`${os.hostname()}:4780`)).toBe(true);
    const ipv4 = Object.values(os.networkInterfaces())
      .flat()
      .find((local) => local?.family === 'IPv4');
    if (ipv4) expect(hosts.allows(`${ipv4.address}:4780`)).toBe(true);
    expect(hosts.allows('evil.example:4780')).toBe(false);
  });

  it('reads DNS names and IP addresses from a subjectAltName, skipping wildcards', () => {
    expect(certificateHostNames('DNS:localhost, DNS:*.corp.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1')).toEqual([
      'localhost',
      '127.0.0.1',
      '[0:0:0:0:0:0:0:1]',
    ]);
    expect(certificateHostNames(undefined)).toEqual([]);
  });
});
