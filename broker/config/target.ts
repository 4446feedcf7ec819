// A resource's `target`: the host:port the broker dials for a tunnel. IPv6 literals are written in
// brackets (`[::1]:5432`) as in URLs; the parsed host carries no brackets so it goes straight to
// `net.connect`.

import net from 'node:net';
import { parseWholeNumber } from '../../shared/whole-number.js';

export interface Target {
  host: string;
  port: number;
}

const MAX_PORT = 65_535;
/** One DNS label: letters, digits and inner hyphens (RFC 1123), at most 63 characters. */
const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** DNS names are at most 253 characters written out. */
const MAX_HOSTNAME_LENGTH = 253;
const BRACKETED = /^\[([^\]]+)\]:([^:]*)$/;
const PLAIN = /^([^:[\]]+):([^:]*)$/;

/** Parses "host:port" or "[v6]:port"; returns the target, or the reason it is not one. */
export function parseTarget(text: string): Target | { problem: string } {
  const trimmed = text.trim();
  const bracketed = BRACKETED.exec(trimmed);
  const plain = bracketed ? null : PLAIN.exec(trimmed);
  const match = bracketed ?? plain;
  if (!match) {
    if (trimmed.includes('://')) return { problem: 'must be host:port without a scheme — e.g. db.internal:5432' };
    if (net.isIPv6(trimmed.slice(0, trimmed.lastIndexOf(':')))) return { problem: 'an IPv6 address must be in brackets — e.g. [::1]:5432' };
    return { problem: 'must be host:port — e.g. db.internal:5432' };
  }
  const host = match[1] as string;
  const portText = match[2] as string;
  if (bracketed && !net.isIPv6(host)) return { problem: `"${host}" in brackets is not an IPv6 address` };
  if (!bracketed && !isHostname(host)) return { problem: `"${host}" is not a host name or IPv4 address` };
  const port = parseWholeNumber(portText, 1, MAX_PORT);
  if (port === undefined) return { problem: `port must be a number from 1 to ${MAX_PORT} — e.g. db.internal:5432` };
  return { host, port };
}

/** The written form of a target, the inverse of parseTarget. */
export function formatTarget(target: Target): string {
  return net.isIPv6(target.host) ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

function isHostname(host: string): boolean {
  if (net.isIPv4(host)) return true;
  if (host.length > MAX_HOSTNAME_LENGTH) return false;
  // A trailing dot (fully qualified form) is legal in DNS.
  const labels = (host.endsWith('.') ? host.slice(0, -1) : host).split('.');
  // All-numeric dotted names that are not valid IPv4 (e.g. 10.0.0.256) are typos, not host names.
  if (labels.every((label) => /^\d+$/.test(label))) return false;
  return labels.every((label) => DNS_LABEL.test(label));
}
