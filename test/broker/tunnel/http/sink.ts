// An audit sink for the gateway tests: what was written, and a switch that makes every flush fail.

import type { NewAuditEntry } from '../../../../broker/audit/entry.js';
import type { CaptureSink } from '../../../../broker/tunnel/postgres/session-capture.js';

/** Entries written; `failing` makes every flush keep them (a database refusing writes). */
export class Sink implements CaptureSink {
  written: NewAuditEntry[] = [];
  buffered: NewAuditEntry[] = [];
  failing = false;
  add(entry: NewAuditEntry): void {
    this.buffered.push(entry);
  }
  flush(): void {
    if (this.failing) return;
    this.written.push(...this.buffered);
    this.buffered = [];
  }
  get pending(): number {
    return this.buffered.length;
  }
}
