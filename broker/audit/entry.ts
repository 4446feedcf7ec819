// An audit entry and the one definition of its hash. Everything that writes or checks the chain
// (the appender, verify, an offline checker of an export) goes through `entryHash`.
//
// Canonical encoding (version 1). The hash of an entry is
//
//   hex( SHA-256( UTF-8( JSON.stringify([seq, at, type, actor_oid, actor_upn, subject, resource, body, prev_hash]) ) ) )
//
// - a JSON array, fields in exactly that order, no whitespace;
// - seq and at are integers (at = milliseconds since the Unix epoch, UTC), written in decimal;
// - actor_oid, actor_upn, subject and resource are JSON strings or null;
// - body is the entry's canonical body TEXT, embedded as a JSON string (not as a nested object), so
//   the hash covers the exact characters stored; canonical body = `canonicalJson` below: object keys
//   sorted by UTF-16 code units at every level, no whitespace, undefined members dropped, numbers
//   as JSON.stringify writes them (non-finite numbers become null);
// - strings are escaped as ECMAScript's JSON.stringify does: `"` and `\` escaped, \b \f \n \r \t,
//   other characters below U+0020 and lone surrogates as \u00xx / \udxxx (lowercase hex),
//   everything else written as is;
// - prev_hash is the previous entry's hash (lowercase hex); the first entry (seq 1) has
//   GENESIS_HASH, 64 zeros.
//
// From the wire form (shared/wire.ts AuditEntryView) the same hash is `wireEntryHash`: at =
// Date.parse(view.at), body text = canonicalJson(view.body).

import { hash } from 'node:crypto';
import type { AuditEntryView, AuditEventType } from '../../shared/wire.js';
import type { Actor } from '../requests/types.js';

/** prev_hash of the first entry: nothing came before it. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Largest canonical body stored, in characters. A statement pasted into psql can be megabytes (a
 * COPY, a generated IN list); the log keeps what an auditor reads and stays cheap to scan.
 * A larger body is replaced by a marked prefix (see boundedBody), never dropped.
 */
export const MAX_BODY_CHARS = 64 * 1024;

/** What a caller appends; seq, prev_hash and hash are assigned by the log. */
export interface NewAuditEntry {
  type: AuditEventType;
  /** ms since epoch: when the event happened (which may be a little before it is appended). */
  at: number;
  /** Who acted; null for the clock and the broker itself. */
  actor: Actor | null;
  /** Request id or session id. */
  subject: string | null;
  resource: string | null;
  /** Plain JSON data; stored canonicalized. */
  body: Record<string, unknown>;
}

/** An entry as stored: the row of `audit_log`, column for column. */
export interface AuditRow {
  seq: number;
  at: number;
  type: AuditEventType;
  actor_oid: string | null;
  actor_upn: string | null;
  subject: string | null;
  resource: string | null;
  /** Canonical JSON text. */
  body: string;
  prev_hash: string;
  hash: string;
}

/** The row's columns in hash order, then `hash`: the column list every reader selects. */
export const AUDIT_COLUMNS = 'seq, at, type, actor_oid, actor_upn, subject, resource, body, prev_hash, hash';

/** The hashed fields of an entry, in canonical order. */
export type HashedFields = [
  seq: number,
  at: number,
  type: string,
  actorOid: string | null,
  actorUpn: string | null,
  subject: string | null,
  resource: string | null,
  body: string,
  prevHash: string,
];

export function entryHash(fields: HashedFields | readonly unknown[]): string {
  return hash('sha256', JSON.stringify(fields), 'hex');
}

/** Builds the stored row: canonical body, then the hash over the canonical fields. */
export function sealEntry(entry: NewAuditEntry, seq: number, prevHash: string): AuditRow {
  const body = boundedBody(canonicalJson(entry.body));
  const fields: HashedFields = [seq, entry.at, entry.type, entry.actor?.oid ?? null, entry.actor?.upn ?? null, entry.subject, entry.resource, body, prevHash];
  return {
    seq,
    at: entry.at,
    type: entry.type,
    actor_oid: fields[3],
    actor_upn: fields[4],
    subject: entry.subject,
    resource: entry.resource,
    body,
    prev_hash: prevHash,
    hash: entryHash(fields),
  };
}

export function toEntryView(row: AuditRow): AuditEntryView {
  return {
    seq: row.seq,
    at: new Date(row.at).toISOString(),
    type: row.type,
    actor: row.actor_oid === null ? null : { oid: row.actor_oid, upn: row.actor_upn },
    subject: row.subject,
    resource: row.resource,
    body: parseBody(row.body),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The appender only stores canonical JSON objects; anything else was written by someone else, and is shown as found. */
function parseBody(text: string): Record<string, unknown> {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // Falls through to the raw text: verify names the entry; readers still see what is there.
  }
  return { unparsable: text };
}

/** The hash an entry must have, recomputed from its wire form (for checking an export offline). */
export function wireEntryHash(view: AuditEntryView): string {
  return entryHash([
    view.seq,
    Date.parse(view.at),
    view.type,
    view.actor?.oid ?? null,
    view.actor?.upn ?? null,
    view.subject,
    view.resource,
    canonicalJson(view.body),
    view.prevHash,
  ]);
}

/**
 * JSON with object keys sorted at every level and no whitespace: one text per value, whatever
 * order its keys were built in. (Rebuilding objects with sorted keys is not enough: JavaScript puts
 * integer-like keys such as "10" before the others whatever the insertion order.)
 */
export function canonicalJson(value: unknown): string {
  return canonical(value) ?? 'null';
}

/** undefined for what JSON.stringify leaves out of an object (undefined, functions, symbols). */
function canonical(value: unknown): string | undefined {
  if (value === null) return 'null';
  if (typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonical((value as { toJSON(): unknown }).toJSON());
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonical(item) ?? 'null').join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const text = canonical(record[key]);
      if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${members.join(',')}}`;
  }
  // As a string: a JSON number this large would not read back as the same value.
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  return JSON.stringify(value);
}

/** A body above MAX_BODY_CHARS becomes a marked prefix of itself, still valid canonical JSON. */
function boundedBody(text: string): string {
  if (text.length <= MAX_BODY_CHARS) return text;
  // Escaping can lengthen the prefix (a quote becomes \"), so shrink it by the overshoot until it fits.
  let keep = MAX_BODY_CHARS;
  for (;;) {
    const marked = canonicalJson({ truncated: true, chars: text.length, prefix: text.slice(0, keep) });
    if (marked.length <= MAX_BODY_CHARS) return marked;
    keep -= marked.length - MAX_BODY_CHARS;
  }
}
