// Reading a client's protocol message field by field (the PostgreSQL and MySQL captures and
// credential injection): where the reader stands, and what running off the end means. A capture
// may keep only a prefix of a large message (`cut`): running off a cut body is not an error, and
// each decoder keeps what it read.

/** The message does not follow the protocol. */
export class MalformedMessage extends Error {}

/** Thrown inside a decoder when a cut body ends mid-field; the decoder catches it. */
export class CutShort extends Error {}

export class MessageReader {
  at = 0;
  constructor(
    readonly buffer: Buffer,
    /** The buffer is a prefix of the message: running off its end is not an error. */
    readonly cut: boolean,
    readonly what: string,
  ) {}

  get left(): number {
    return this.buffer.length - this.at;
  }

  need(bytes: number): void {
    if (this.left >= bytes) return;
    if (this.cut) throw new CutShort();
    throw new MalformedMessage(`${this.what}: ends ${bytes - this.left} byte(s) short`);
  }
}
