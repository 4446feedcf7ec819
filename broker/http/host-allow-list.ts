// The names a broker answers to: a request whose Host header is not one of them gets 421 with
// `host_not_allowed`, on every route, API, dev tenant and WebSocket upgrade alike. This is the
// defence against DNS rebinding: a web page on evil.example can make a browser resolve its own name
// to 127.0.0.1 and talk to a loopback server as a same-origin page — but the Host it sends is still
// evil.example, which no name in this list matches. Names are the listener's own (its address, and
// for a wildcard address every interface address and the machine's host name), the loopback
// variants (localhost, 127.0.0.1, [::1]), and any public origin the broker advertises (the
// `access-broker dev` tenant's origins, the TLS certificate's names).

import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { AccessError } from '../../shared/errors.js';

/** Names of the local machine every listener answers to (a loopback connection may use any of them). */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::']);
const DEFAULT_PORTS = { http: 80, https: 443 } as const;

export class HostAllowList {
  readonly #hosts: ReadonlySet<string>;
  /** One allowed Host, quoted in refusals so the reader knows what to use instead. */
  readonly #example: string;

  /** `hosts` are `name:port` or bare names (matched case-insensitively); the first is quoted in refusals. */
  constructor(hosts: Iterable<string>) {
    const list = [...hosts].map((host) => host.toLowerCase());
    this.#hosts = new Set(list);
    this.#example = list[0] ?? 'localhost';
  }

  /**
   * The names of a listener at `address`, reached with `scheme`, plus `origins` (public origins the
   * broker advertises) and `names` (more host names, e.g. a TLS certificate's).
   */
  static forListener(address: AddressInfo, scheme: 'http' | 'https', options: { origins?: readonly string[]; names?: readonly string[] } = {}): HostAllowList {
    const names = new Set<string>(LOOPBACK_NAMES);
    if (WILDCARD_ADDRESSES.has(address.address)) {
      for (const local of Object.values(os.networkInterfaces()).flat()) {
        if (local) names.add(bracketed(local.address, local.family));
      }
      names.add(os.hostname());
    } else {
      names.add(bracketed(address.address, address.family));
    }
    for (const name of options.names ?? []) names.add(name);
    const hosts: string[] = [];
    for (const name of names) {
      hosts.push(`${name}:${address.port}`);
      // A browser leaves the port out of Host when it is the scheme's default.
      if (address.port === DEFAULT_PORTS[scheme]) hosts.push(name);
    }
    for (const origin of options.origins ?? []) hosts.push(new URL(origin).host);
    // The listener's own address first: the name quoted in a refusal.
    const own = bracketed(WILDCARD_ADDRESSES.has(address.address) ? '127.0.0.1' : address.address, address.family);
    return new HostAllowList([`${own}:${address.port}`, ...hosts]);
  }

  /** Whether a request with this Host header may be answered. */
  allows(host: string | undefined): boolean {
    return host !== undefined && this.#hosts.has(host.toLowerCase());
  }

  /** Throws `host_not_allowed` (421) unless the request's Host is one of the broker's names. */
  check(req: IncomingMessage): void {
    const host = req.headers.host;
    if (this.allows(host)) return;
    const named = host === undefined ? 'no Host header' : `Host "${host}"`;
    throw new AccessError(
      'host_not_allowed',
      `this broker does not answer to ${named}: it answers only to its own names, e.g. ${this.#example} ` +
        '(a foreign Host is how a web page reaches a local server by DNS rebinding). Use the URL the broker printed.',
    );
  }
}

/** The DNS names and IP addresses of a certificate's subjectAltName ("DNS:localhost, IP Address:127.0.0.1"), as Host names. */
export function certificateHostNames(subjectAltName: string | undefined): string[] {
  const names: string[] = [];
  for (const entry of (subjectAltName ?? '').split(/,\s*/)) {
    const [kind, value] = entry.split(/:(.*)/s);
    if (!value) continue;
    if (kind === 'DNS' && !value.includes('*')) names.push(value);
    else if (kind === 'IP Address') names.push(value.includes(':') ? `[${value}]` : value);
  }
  return names;
}

/** An address as it appears in a Host header: IPv6 in brackets. */
function bracketed(address: string, family: string | number): string {
  return family === 'IPv6' || family === 6 ? `[${address}]` : address;
}
