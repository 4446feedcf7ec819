// Recomputes the audit chain from seq 1 to the head and names the first entry that does not hold:
//
//   missing   the seq is absent (an entry was deleted, or rows renumbered around it);
//   unlinked  its prev_hash is not the hash of the entry before it (an entry was inserted, two
//             were swapped, or an earlier entry was rewritten together with its hash);
//   altered   its stored hash is not the hash of its fields (a field was changed).
//
// What a hash chain cannot show on its own: the newest entries cut off the end, or the whole chain
// rewritten from some point on with fresh hashes. Against both, keep the head hash a verify
// reports somewhere the broker cannot write (a ticket, a SIEM): a later verify must still pass
// through it.
//
// Rows are read in chunks by seq range with the raw (array) statement mode, and the hash is
// computed on the row array itself (its first nine columns are the canonical field order), so a
// row costs one array and one string. The async form yields to the event loop between chunks, so
// a broker verifying a million entries keeps answering other requests.

import type { Database } from '../store/database.js';
import { AUDIT_COLUMNS, GENESIS_HASH, entryHash } from './entry.js';

/** Rows read per statement: large enough that per-query overhead vanishes, small enough to yield often. */
export const VERIFY_CHUNK_ROWS = 20_000;

export type VerifyProblem = 'missing' | 'unlinked' | 'altered';

export type VerifyResult =
  | { ok: true; count: number; head: { seq: number; hash: string } }
  | { ok: false; count: number; firstBadSeq: number; problem: VerifyProblem; reason: string };

/** Verifies the whole chain synchronously (the benchmark, offline checks). */
export function verifyChain(db: Database, chunkRows = VERIFY_CHUNK_ROWS): VerifyResult {
  const steps = verifySteps(db, chunkRows);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Verifies the whole chain, yielding to the event loop after every chunk. */
export async function verifyChainAsync(db: Database, chunkRows = VERIFY_CHUNK_ROWS): Promise<VerifyResult> {
  const steps = verifySteps(db, chunkRows);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * Yields after each chunk; returns the result. Entries appended while it runs are beyond the head
 * read at the start and are left for the next verify (the log only grows, so each chunk reads the
 * same rows a single snapshot would have).
 */
function* verifySteps(db: Database, chunkRows: number): Generator<void, VerifyResult> {
  const last = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM audit_log').get()?.seq ?? 0;
  const chunk = db.prepare<[number, number, number]>(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`).raw();
  let expected = 1;
  let prevHash = GENESIS_HASH;
  while (expected <= last) {
    let read = 0;
    for (const row of chunk.all(expected - 1, last, chunkRows)) {
      read += 1;
      // What remains of the row after pop() is the nine hashed fields in canonical order.
      const stored = row.pop();
      const problem = check(row, stored, expected, prevHash);
      if (problem) return { ok: false, count: expected - 1, ...problem };
      prevHash = stored as string;
      expected += 1;
    }
    // The range (expected-1, last] is not empty but held no row: the entries up to `last` are gone.
    if (read === 0) return { ok: false, count: expected - 1, ...missing(expected, null) };
    if (expected <= last) yield;
  }
  return { ok: true, count: last, head: { seq: last, hash: prevHash } };
}

type Finding = { firstBadSeq: number; problem: VerifyProblem; reason: string };

function check(row: unknown[], stored: unknown, expected: number, prevHash: string): Finding | null {
  const seq = row[0] as number;
  if (seq !== expected) return missing(expected, seq);
  if (row[8] !== prevHash) {
    return {
      firstBadSeq: seq,
      problem: 'unlinked',
      reason:
        seq === 1
          ? `entry 1 does not start the chain: its prev_hash is ${String(row[8])}, not the genesis hash`
          : `entry ${seq} does not chain to entry ${seq - 1}: its prev_hash is ${String(row[8])} but entry ${seq - 1} hashes to ${prevHash} ` +
            `(an entry was inserted or moved here, or an earlier entry was rewritten)`,
    };
  }
  const actual = entryHash(row);
  if (actual !== stored) {
    return {
      firstBadSeq: seq,
      problem: 'altered',
      reason: `entry ${seq} (${String(row[2])}) was changed after it was written: its fields hash to ${actual}, but it records ${String(stored)}`,
    };
  }
  return null;
}

function missing(expected: number, found: number | null): Finding {
  const next = found === null ? 'no entry follows' : `the next entry is ${found}`;
  return { firstBadSeq: expected, problem: 'missing', reason: `entry ${expected} is missing: ${next}` };
}
