// Reads a Postgres server's BackendKeyData from the server → client stream of a tunnel: the
// process id and secret key a CancelRequest names. The server sends it once, after
// authentication and before the first ReadyForQuery ('Z'), so the reader looks only at the
// messages up to either and then stands aside for good (the caller detaches it: zero cost after).
//
// Before BackendKeyData come only small typed messages (Authentication 'R', ParameterStatus 'S',
// NegotiateProtocolVersion 'v', NoticeResponse 'N', ErrorResponse 'E'); their bodies are skipped
// without a copy. Anything else (a TLS stream the broker cannot read, bytes that are not Postgres)
// ends the reading without a key: the tunnel then simply has no cancel at a cut.

/** The typed messages a server sends before its first ReadyForQuery, besides BackendKeyData. */
const Backend = {
  authentication: 0x52, // 'R'
  backendKeyData: 0x4b, // 'K'
  errorResponse: 0x45, // 'E'
  negotiateProtocolVersion: 0x76, // 'v'
  noticeResponse: 0x4e, // 'N'
  parameterStatus: 0x53, // 'S'
  readyForQuery: 0x5a, // 'Z'
} as const;
const SKIPPED_TYPES: ReadonlySet<number> = new Set([
  Backend.authentication,
  Backend.errorResponse,
  Backend.negotiateProtocolVersion,
  Backend.noticeResponse,
  Backend.parameterStatus,
]);

/**
 * Longest message the reader skips before the key. What a server sends before ReadyForQuery is
 * small (parameters, notices, authentication challenges; a Kerberos token with a large PAC stays
 * far below this); a larger length means the bytes are not Postgres framing (e.g. a TLS record
 * after an 'S', whose header reads as a length of hundreds of megabytes).
 */
export const MAX_STARTUP_MESSAGE_BYTES = 1024 * 1024;
const HEADER_BYTES = 5;
const PID_BYTES = 4;
/** Protocol 3.0's secret key is 4 bytes; protocol 3.2 (PostgreSQL 18) allows up to 256. */
const MIN_SECRET_BYTES = 4;
export const MAX_SECRET_BYTES = 256;

/** What a CancelRequest for one backend needs. */
export interface BackendKey {
  pid: number;
  /** The secret key, as sent (4 bytes under protocol 3.0). */
  secret: Buffer;
}

export class BackendKeyReader {
  #key: BackendKey | null = null;
  #done = false;
  readonly #header = Buffer.alloc(HEADER_BYTES);
  #headerFill = 0;
  /** While inside a message: its bytes still to come, and (for 'K') the body read so far. */
  #left = 0;
  #keyBody: Buffer | null = null;
  #keyFill = 0;

  /** The server's key once read; null before, and for good when the stream ended its startup without one. */
  get key(): BackendKey | null {
    return this.#key;
  }

  /** True once the reader saw 'K', the first 'Z' or bytes it does not understand: later chunks are not looked at. */
  get done(): boolean {
    return this.#done;
  }

  /** Reads what `chunk` holds of the startup messages; never throws, does not keep `chunk`. */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.#done) {
      if (this.#left === 0 && this.#keyBody === null) {
        const take = Math.min(HEADER_BYTES - this.#headerFill, chunk.length - at);
        chunk.copy(this.#header, this.#headerFill, at, at + take);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < HEADER_BYTES) return;
        this.#headerFill = 0;
        this.#begin(this.#header[0] as number, this.#header.readInt32BE(1));
        continue;
      }
      const take = Math.min(this.#left, chunk.length - at);
      if (this.#keyBody) {
        chunk.copy(this.#keyBody, this.#keyFill, at, at + take);
        this.#keyFill += take;
      }
      this.#left -= take;
      at += take;
      if (this.#left === 0 && this.#keyBody) this.#finishKey(this.#keyBody);
    }
  }

  #begin(type: number, length: number): void {
    const bodyBytes = length - 4;
    if (type === Backend.backendKeyData) {
      if (bodyBytes < PID_BYTES + MIN_SECRET_BYTES || bodyBytes > PID_BYTES + MAX_SECRET_BYTES) {
        this.#done = true;
        return;
      }
      this.#keyBody = Buffer.alloc(bodyBytes);
      this.#keyFill = 0;
      this.#left = bodyBytes;
      return;
    }
    // ReadyForQuery without a key before it: a server (or pooler) that offers no cancel.
    if (type === Backend.readyForQuery || !SKIPPED_TYPES.has(type) || length < 4 || length > MAX_STARTUP_MESSAGE_BYTES) {
      this.#done = true;
      return;
    }
    this.#left = bodyBytes;
  }

  #finishKey(body: Buffer): void {
    this.#keyBody = null;
    this.#done = true;
    this.#key = { pid: body.readInt32BE(0), secret: body.subarray(PID_BYTES) };
  }
}
