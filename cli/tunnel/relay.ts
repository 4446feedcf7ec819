// The hot path: bytes between one local end (an accepted socket, or stdin/stdout) and one tunnel
// WebSocket, both ways, unchanged. Each chunk is sent as it arrives (no stream adapters, no
// per-chunk logging or copies: the notes measured ~3x the throughput of createWebSocketStream +
// pipe), with backpressure both ways so a slow side never makes the CLI buffer without bound:
//   - up:   when the WebSocket's send buffer passes WS_HIGH_WATER_BYTES, the local side is paused
//           until the chunk that crossed the mark has been flushed to the kernel;
//   - down: when the local side's write() says its buffer is full, the WebSocket is paused until
//           the local side drains.
// The protocol has no half-close: when the local side ends, the tunnel is closed (1000), and
// whatever the broker still sends before its close frame is delivered.

import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type WebSocket from 'ws';
import { retainFreedHeap } from '../../shared/heap-retention.js';

/**
 * Bytes the WebSocket may hold unsent before the local side is paused. Large enough to keep a
 * loopback or LAN link busy between drains, small enough that many connections stay cheap.
 */
export const WS_HIGH_WATER_BYTES = 1024 * 1024;
/** After our close frame, how long the broker gets to answer before the socket is cut. */
export const CLOSE_GRACE_MS = 2_000;
/** After the tunnel closed, how long a local client gets to read what the broker sent last. */
export const FLUSH_GRACE_MS = 10_000;
/** Close code and reason sent when the local side ends or the CLI closes the tunnel. */
export const LOCAL_CLOSE = { code: 1000, reason: 'client closed' } as const;

/** The local side of a relay. For a socket, `readable` and `writable` are the socket itself. */
export interface LocalEnd {
  readable: Readable;
  writable: Writable;
  /** Called once when the tunnel has closed: flush and release the local side. */
  finish(): void;
}

export interface RelayResult {
  /** The close code received (1005: the broker sent none; 1006: the socket was lost without a close frame). */
  code: number;
  /** The close reason received (the broker's specifics, e.g. "revoked by bob@contoso.dev: …"). */
  reason: string;
  /** Which side ended the tunnel: the local side (its end, an error, `close()`), or the broker. */
  endedBy: 'local' | 'broker';
  /** Bytes from the local side to the broker. */
  bytesUp: number;
  /** Bytes from the broker to the local side. */
  bytesDown: number;
  /** What went wrong, when something did (a local socket error, a broken WebSocket). */
  error?: string;
}

export interface Relay {
  /** Resolves once the tunnel has closed and the local side was finished; never rejects. */
  readonly done: Promise<RelayResult>;
  /** Closes the tunnel from this side (1000); the broker ends the target connection. Idempotent. */
  close(): void;
}

/** A local socket as a LocalEnd: on close, flush what the broker sent, then release the socket. */
export function socketEnd(socket: Socket): LocalEnd {
  return {
    readable: socket,
    writable: socket,
    finish: () => {
      socket.end(() => socket.destroy());
      // A client that never reads the rest must not keep its socket (and our memory) forever.
      setTimeout(() => socket.destroy(), FLUSH_GRACE_MS).unref();
    },
  };
}

/**
 * Starts relaying between `ws` (open, possibly paused: it is resumed here once listening) and
 * `local`. The local readable must be in paused or flowing mode without other 'data' consumers.
 */
export function startRelay(ws: WebSocket, local: LocalEnd): Relay {
  retainFreedHeap();
  let bytesUp = 0;
  let bytesDown = 0;
  let endedBy: RelayResult['endedBy'] = 'broker';
  let error: string | undefined;
  let closed = false;
  let graceTimer: NodeJS.Timeout | null = null;
  let resolveDone!: (result: RelayResult) => void;
  const done = new Promise<RelayResult>((resolve) => (resolveDone = resolve));

  // Closes from this side, unless the tunnel is already closing (then whoever began it ended it).
  const closeTunnel = (): void => {
    if (closed || ws.readyState !== ws.OPEN) return;
    endedBy = 'local';
    ws.close(LOCAL_CLOSE.code, LOCAL_CLOSE.reason);
    // A polite close, but a broker that never answers must not hold the connection open.
    graceTimer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    graceTimer.unref();
  };

  // One function for every send that crosses the high-water mark: ws calls it when that chunk is
  // flushed, and everything sent before it is flushed too, so the local side may read again.
  const resumeLocal = (): void => {
    if (!closed) local.readable.resume();
  };
  const onLocalData = (chunk: Buffer): void => {
    bytesUp += chunk.length;
    if (ws.bufferedAmount + chunk.length < WS_HIGH_WATER_BYTES) {
      ws.send(chunk);
      return;
    }
    local.readable.pause();
    ws.send(chunk, resumeLocal);
  };
  const onLocalEnd = (): void => closeTunnel();
  const onLocalError = (err: Error): void => {
    error ??= `local side: ${err.message}`;
    closeTunnel();
  };

  const onMessage = (data: WebSocket.RawData): void => {
    // binaryType is 'nodebuffer' (set when the tunnel was opened): every message is one Buffer.
    const chunk = data as Buffer;
    bytesDown += chunk.length;
    if (!local.writable.write(chunk)) ws.pause();
  };
  const onDrain = (): void => ws.resume();
  const onWsError = (err: Error): void => {
    error ??= `tunnel: ${err.message}`;
  };

  ws.on('message', onMessage);
  ws.on('error', onWsError);
  ws.once('close', (code: number, reason: Buffer) => {
    closed = true;
    if (graceTimer) clearTimeout(graceTimer);
    local.readable.off('data', onLocalData);
    local.readable.off('end', onLocalEnd);
    local.readable.off('error', onLocalError);
    local.writable.off('drain', onDrain);
    local.writable.off('error', onLocalError);
    local.readable.off('close', onLocalEnd);
    // Late errors from the local side (a reset while flushing) have nowhere to go now.
    local.readable.on('error', () => undefined);
    local.writable.on('error', () => undefined);
    local.finish();
    resolveDone({
      code,
      reason: reason.toString('utf8'),
      endedBy,
      bytesUp,
      bytesDown,
      ...(error === undefined ? {} : { error }),
    });
  });
  local.readable.on('data', onLocalData);
  local.readable.on('end', onLocalEnd);
  local.readable.on('error', onLocalError);
  // A local side that closes without 'end' (destroyed, reset) ends the tunnel too.
  local.readable.on('close', onLocalEnd);
  local.writable.on('drain', onDrain);
  // For a socket both are one stream: the handler runs twice, harmlessly (it is idempotent).
  local.writable.on('error', onLocalError);
  local.readable.resume();
  ws.resume();

  return {
    done,
    close: closeTunnel,
  };
}
