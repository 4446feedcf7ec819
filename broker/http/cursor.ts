// Opaque page cursors: every listing is read page by page, and a page's `next` is the cursor of the
// page after it (null on the last). A cursor names its listing, so one handed out by
// /v1/approvals is refused by /v1/requests, and it is a position (not an offset), so rows added
// meanwhile neither repeat nor get skipped. Clients pass it back as they got it; its contents are
// the broker's business and may change between versions.

import { AccessError } from '../../shared/errors.js';
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX } from '../../shared/limits.js';
import type { RowPosition } from '../store/request-store.js';

/** A cursor is short; anything longer is not one the broker made. */
const MAX_CURSOR_CHARS = 200;

export function encodeCursor(listing: string, position: RowPosition): string {
  return Buffer.from(JSON.stringify({ l: listing, at: position.at, row: position.row }), 'utf8').toString('base64url');
}

/** The position a cursor of `listing` points at; `cursor_invalid` for anything else. */
export function decodeCursor(listing: string, cursor: string): RowPosition {
  const invalid = (): AccessError =>
    new AccessError(
      'cursor_invalid',
      `?cursor= is not a cursor this broker handed out for ${listing} — pass the "next" of the previous page as it came, or leave it out for the first page`,
    );
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const { l, at, row } = (parsed ?? {}) as { l?: unknown; at?: unknown; row?: unknown };
  if (l !== listing || !Number.isSafeInteger(at) || !Number.isSafeInteger(row)) throw invalid();
  return { at: at as number, row: row as number };
}

/** `?limit=`: PAGE_LIMIT_DEFAULT when absent, else a whole number from 1 to PAGE_LIMIT_MAX. */
export function pageLimit(value: string | null): number {
  if (value === null) return PAGE_LIMIT_DEFAULT;
  const limit = Number(value);
  if (/^\d+$/.test(value) && limit >= 1 && limit <= PAGE_LIMIT_MAX) return limit;
  throw new AccessError('bad_request', `?limit=${value.slice(0, 20)} is not a whole number from 1 to ${PAGE_LIMIT_MAX}`);
}
