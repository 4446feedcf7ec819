// The one line `access connect` writes to stderr when a local connection opens, is refused, or
// closes (never per chunk): "14:02:11 #1 127.0.0.1:53412 open", "14:02:15 #1 closed: the database
// closed the connection — 1.2 kB up, 340 kB down in 4s".

import { safeText } from '../../shared/safe-text.js';
import { span, timeOfDay } from '../request-format.js';
import type { RelayResult } from './relay.js';

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'] as const;

/** "0 B", "512 B", "1.2 kB", "340 kB", "12 MB": decimal units, at most three significant digits. */
export function byteCount(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const shown = unit === 0 || value >= 100 ? Math.round(value).toString() : value.toFixed(value >= 10 ? 0 : 1);
  return `${shown} ${BYTE_UNITS[unit] ?? ''}`;
}

export function openLine(at: number, id: number, from: string): string {
  return `${timeOfDay(at)} #${id} ${from} open`;
}

export function refusedLine(at: number, id: number, from: string, why: string): string {
  return `${timeOfDay(at)} #${id} ${from} refused: ${why}`;
}

export function closedLine(at: number, id: number, words: string, result: RelayResult, elapsedMs: number): string {
  // A socket error's text comes from outside (a peer's words may be in it): shown safely.
  const problem = result.error ? ` (${safeText(result.error)})` : '';
  return `${timeOfDay(at)} #${id} closed: ${words}${problem} — ${byteCount(result.bytesUp)} up, ${byteCount(result.bytesDown)} down in ${span(elapsedMs)}`;
}
