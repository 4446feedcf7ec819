// The operational settings `serve` and `dev` share (`--log-format`, `--drain-timeout`,
// `--metrics`), each parsed with an error that quotes the value and says what to write instead.
// Light on purpose: `access-broker --help` loads it without the store's native module.

import { formatDuration, parseDuration } from '../shared/duration.js';
import { AccessError } from '../shared/errors.js';
import { parseWholeNumber } from '../shared/whole-number.js';
import { LOG_FORMATS, type LogFormat } from './log.js';

/** The broker's port unless `--port` says otherwise. */
export const DEFAULT_DEV_PORT = 4780;
/**
 * How long stopping waits for open tunnels to end on their own under `serve`, by default: most
 * sessions a person is in the middle of finish a statement within it, and it fits in the 30 s an
 * orchestrator usually allows between SIGTERM and SIGKILL (the systemd unit sets TimeoutStopSec above it).
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000;
/**
 * `dev` runs on one person's machine: Ctrl-C stops at once (open tunnels are cut) unless
 * `--drain-timeout` asks for a drain as `serve` does by default.
 */
export const DEFAULT_DEV_DRAIN_TIMEOUT_MS = 0;
/** The longest drain accepted (`--drain-timeout`): beyond it a stop looks like a hang. */
export const MAX_DRAIN_TIMEOUT_MS = 60 * 60_000;

/** Where `/metrics` listens when `--metrics` names only a port: this machine only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface OperationsOptions {
  /** How long stopping waits for open tunnels (lifecycle.ts); 0 cuts them at once. */
  drainTimeoutMs: number;
  /** Where `GET /metrics` is served, on its own listener; null: not served (the default). */
  metrics: ListenAddress | null;
}

export function parseLogFormat(value: string): LogFormat {
  const format = value.trim().toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new AccessError('usage', `"${value}" is not a log format — use ${LOG_FORMATS.join(' or ')}`);
  return format as LogFormat;
}

/** "30s", "2m", "0" (cut at once)…, at most MAX_DRAIN_TIMEOUT_MS. */
export function parseDrainTimeout(value: string): number {
  if (/^\s*0+(ms|s|m|h|d)?\s*$/.test(value)) return 0;
  const ms = parseDuration(value);
  if (ms === undefined) throw new AccessError('usage', `"${value}" is not a drain timeout — use a duration such as 30s or 2m, or 0 to cut tunnels at once`);
  if (ms > MAX_DRAIN_TIMEOUT_MS)
    throw new AccessError(
      'usage',
      `--drain-timeout ${value} is longer than the most allowed (${formatDuration(MAX_DRAIN_TIMEOUT_MS)}); a stop that long looks like a hang`,
    );
  return ms;
}

/** "9464" (loopback), "127.0.0.1:9464", "[::1]:9464", "10.0.0.5:9464". */
export function parseListenAddress(value: string): ListenAddress {
  const text = value.trim();
  const match = /^(?:(\[[^\]]+\]|[^:[\]]+):)?(\d+)$/.exec(text);
  const port = match ? parseWholeNumber(match[2] as string, 0, 65535) : undefined;
  if (!match || port === undefined) {
    throw new AccessError(
      'usage',
      `"${value}" is not a listen address — use PORT (on ${DEFAULT_METRICS_HOST}; 0 for any free port) or HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464`,
    );
  }
  const host = match[1] ? match[1].replace(/^\[|\]$/g, '') : DEFAULT_METRICS_HOST;
  return { host, port };
}
