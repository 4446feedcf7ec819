// Networks (CIDR blocks) and the client address the broker sees. Pure: strings in, answers out.
//
// A resource's `sourceNetworks` and the broker's `trustedProxies` are lists of CIDR blocks, IPv4
// (10.0.0.0/8) or IPv6 (2001:db8::/32); a bare address is a block of one. An IPv4-mapped IPv6
// address (::ffff:192.0.2.7, what a dual-stack socket reports for an IPv4 peer) is the IPv4
// address it maps, for matching and for messages alike.
//
// X-Forwarded-For is honoured only when the direct peer is a trusted proxy; then the header's hops
// are read from the right (the one the nearest proxy appended) and the first hop that is not a
// trusted proxy is the client. Anything to its left was written by the client and proves nothing.

import net from 'node:net';

export interface Network {
  /** As written in the config, for messages (e.g. "10.0.0.0/8"). */
  readonly text: string;
  readonly family: 'ipv4' | 'ipv6';
  /** The block's address, normalised (IPv4-mapped IPv6 → IPv4). */
  readonly address: string;
  readonly prefix: number;
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
/** More X-Forwarded-For hops than this is not a proxy chain but a client filling the header. */
export const MAX_FORWARDED_HOPS = 32;

/** The address without an IPv6 zone, IPv4-mapped IPv6 as IPv4; null when it is not an IP address. */
export function normalizeAddress(text: string): string | null {
  const trimmed = text.trim();
  const mapped = MAPPED_IPV4.exec(trimmed);
  const candidate = mapped ? (mapped[1] as string) : trimmed;
  const version = net.isIP(candidate);
  if (version === 0) return null;
  return version === 6 ? candidate.toLowerCase() : candidate;
}

/** Parses "10.0.0.0/8", "2001:db8::/32" or a bare address; returns why not as a string. */
export function parseNetwork(text: string): Network | string {
  const [base = '', prefixText, ...rest] = text.trim().split('/');
  if (rest.length > 0) return 'has more than one "/" — write ADDRESS/PREFIX, e.g. 10.0.0.0/8';
  const mapped = MAPPED_IPV4.exec(base);
  const address = normalizeAddress(base);
  if (address === null) return `"${base}" is not an IPv4 or IPv6 address — write ADDRESS/PREFIX, e.g. 10.0.0.0/8 or 2001:db8::/32`;
  const family = net.isIPv4(address) ? 'ipv4' : 'ipv6';
  const max = family === 'ipv4' ? 32 : 128;
  if (prefixText === undefined) return { text: text.trim(), family, address, prefix: max };
  if (!/^\d{1,3}$/.test(prefixText)) return `the prefix "/${prefixText}" is not a number — write e.g. /8 or /64`;
  // A mapped block's prefix counts the 96 bits of ::ffff: in front of the IPv4 address.
  const prefix = mapped ? Number(prefixText) - 96 : Number(prefixText);
  if (prefix < 0 || prefix > max)
    return `the prefix /${prefixText} is out of range for ${mapped ? 'an IPv4-mapped' : family.toUpperCase()} address (0 to ${mapped ? 128 : max})`;
  return { text: text.trim(), family, address, prefix };
}

/** A matcher for a list of networks (node's BlockList does the bit work). */
export class NetworkList {
  readonly networks: readonly Network[];
  readonly #list = new net.BlockList();

  constructor(networks: readonly Network[]) {
    this.networks = networks;
    for (const n of networks) this.#list.addSubnet(n.address, n.prefix, n.family);
  }

  /** Whether `address` (any form normalizeAddress takes) is inside one of the networks; false for a non-address. */
  contains(address: string | null): boolean {
    if (address === null) return false;
    const normalized = normalizeAddress(address);
    if (normalized === null) return false;
    return this.#list.check(normalized, net.isIPv4(normalized) ? 'ipv4' : 'ipv6');
  }

  /** "10.0.0.0/8, 192.168.0.0/16" */
  describe(): string {
    return this.networks.map((n) => n.text).join(', ');
  }
}

/**
 * The client's address: the direct peer, unless the peer is a trusted proxy; then the rightmost
 * X-Forwarded-For hop that is not a trusted proxy (or the leftmost hop when all are trusted).
 * A malformed hop stops the walk at the last good address: a proxy we trust never writes one.
 * Returns null when the peer address is unknown.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trusted: NetworkList): string | null {
  const direct = peer === undefined ? null : normalizeAddress(peer);
  if (direct === null) return null;
  if (forwardedFor === undefined || !trusted.contains(direct)) return direct;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  let client = direct;
  for (const hop of hops.slice(-MAX_FORWARDED_HOPS).reverse()) {
    const address = normalizeAddress(stripPort(hop));
    if (address === null) return client;
    client = address;
    if (!trusted.contains(address)) return address;
  }
  return client;
}

/** "192.0.2.7:51000" → "192.0.2.7", "[2001:db8::1]:443" → "2001:db8::1"; other forms unchanged. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1] as string;
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(hop);
  return v4WithPort ? (v4WithPort[1] as string) : hop;
}
