// The slice of OData query options the Graph emulator honours, the way Graph does for the calls
// the broker makes: `$top` (default 100, at most 999), opaque `$skiptoken` paging through
// `@odata.nextLink`, loose `$select`, and `$filter` with `prop eq 'value'`.

import { parseWholeNumber } from '../../shared/whole-number.js';
import { GraphFailures } from './graph-errors.js';

/** Graph's default page size for directory collections. */
export const DEFAULT_PAGE_SIZE = 100;
/** Graph's largest `$top` for directory collections. */
export const MAX_PAGE_SIZE = 999;
const SKIPTOKEN_PREFIX = 'offset:';

export type GraphObject = Record<string, unknown>;

export interface Page {
  value: GraphObject[];
  nextLink?: string;
}

export function pageSize(url: URL): number {
  const raw = url.searchParams.get('$top');
  if (raw === null) return DEFAULT_PAGE_SIZE;
  const top = parseWholeNumber(raw, 1, MAX_PAGE_SIZE);
  if (top === undefined) {
    throw GraphFailures.badRequest(`Invalid page size specified: '${raw}'. Must be between 1 and ${MAX_PAGE_SIZE} inclusive.`);
  }
  return top;
}

function skipOffset(url: URL): number {
  const raw = url.searchParams.get('$skiptoken');
  if (raw === null) return 0;
  const decoded = Buffer.from(raw, 'base64url').toString('utf8');
  const offset = decoded.startsWith(SKIPTOKEN_PREFIX) ? parseWholeNumber(decoded.slice(SKIPTOKEN_PREFIX.length)) : undefined;
  if (offset === undefined) {
    throw GraphFailures.badRequest(`Invalid $skiptoken '${raw}'. Follow the @odata.nextLink of the previous page as it is.`);
  }
  return offset;
}

/**
 * One page of `items` for the request `url` (seen at `publicOrigin`), with a nextLink that keeps
 * the request's other query options and is absolute https, as Graph's are.
 */
export function page(items: readonly GraphObject[], url: URL, publicOrigin: string): Page {
  const top = pageSize(url);
  const offset = skipOffset(url);
  const value = items.slice(offset, offset + top).map((item) => select(item, url));
  if (offset + top >= items.length) return { value };
  const query: string[] = [];
  for (const [key, val] of url.searchParams) {
    if (key !== '$skiptoken') query.push(`${key}=${encodeURIComponent(val)}`);
  }
  query.push(`$skiptoken=${Buffer.from(`${SKIPTOKEN_PREFIX}${offset + top}`).toString('base64url')}`);
  return { value, nextLink: `${publicOrigin}${url.pathname}?${query.join('&')}` };
}

/** `$select` loosely: the named properties that exist, plus `@odata.type`; unknown names are ignored. */
export function select(item: GraphObject, url: URL): GraphObject {
  const raw = url.searchParams.get('$select');
  if (!raw) return item;
  const wanted = new Set(
    raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  return Object.fromEntries(Object.entries(item).filter(([key]) => key === '@odata.type' || wanted.has(key)));
}

/**
 * `$filter=prop eq 'value'` over `filterable` properties (case-insensitive, as Graph compares
 * directory strings); anything else is refused rather than silently ignored.
 */
export function filter(items: readonly GraphObject[], url: URL, filterable: readonly string[]): readonly GraphObject[] {
  const raw = url.searchParams.get('$filter');
  if (raw === null) return items;
  const match = /^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$/.exec(raw);
  const property = match?.[1];
  if (!match || property === undefined || !filterable.includes(property)) {
    throw GraphFailures.unsupportedQuery(`Unsupported query '${raw}'. The dev tenant filters with "<property> eq '<value>'" on ${filterable.join(', ')}.`);
  }
  const value = (match[2] ?? '').replace(/''/g, "'").toLowerCase();
  return items.filter((item) => String(item[property] ?? '').toLowerCase() === value);
}
