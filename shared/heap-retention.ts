// Keeps freed memory in the process instead of handing it back to the kernel after every garbage
// collection, for the processes that relay bulk bytes (the broker, `access connect`).
//
// Why: Node reads a socket into a fresh 64 KiB buffer per read (an accepted socket and the
// broker's WebSocket cannot be given memory of our own), and V8 frees those buffers in batches of
// tens of MiB at a garbage collection. glibc's malloc returns the freed top of its heap to the
// kernel once it exceeds its trim threshold (128 KiB at start), so the next reads fault every page
// back in: on an upload through the tunnel, page faults under read() were over a third of the
// CLI's CPU time, and the upload ran at less than half the speed it does with the memory kept.
//
// How: glibc raises both thresholds by itself when it frees a block it had mmap'ed (mallopt(3),
// M_MMAP_THRESHOLD, "dynamic mmap threshold"): the mmap threshold becomes that block's size and
// the trim threshold twice that. So one block just under glibc's ceiling for this (32 MiB on 64-bit
// systems) is allocated and dropped: from the garbage collection that frees it on, the heap keeps
// up to 64 MiB of freed memory, enough for one collection's batch of read buffers. The block is
// never written, so it costs address space for a moment, not memory. Elsewhere (macOS, musl) it is
// allocated and freed and nothing else changes.

/** Just under glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit (32 MiB), so that its free raises the thresholds. */
export const RETENTION_BLOCK_BYTES = 32 * 1024 * 1024 - 64 * 1024;

let retained = false;

/** Once per process: allocates and drops the block that raises glibc's trim threshold (see above). */
export function retainFreedHeap(): void {
  if (retained) return;
  retained = true;
  // allocUnsafeSlow: a block of its own, not a slice of Node's pool; unreferenced at once.
  Buffer.allocUnsafeSlow(RETENTION_BLOCK_BYTES);
}
