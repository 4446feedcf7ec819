// What the gateway tests share: an audit sink that can be told to fail, a session, and clean-up.

import { afterEach } from 'vitest';
import type { NewAuditEntry } from '../../../../broker/audit/entry.js';
import type { NewSession } from '../../../../broker/store/session-store.js';
import type { CaptureSink } from '../../../../broker/tunnel/capture.js';

/** Entries written; `failing` makes every flush keep them (a database refusing writes). */
export class Sink implements CaptureSink {
  written: NewAuditEntry[] = [];
  buffered: NewAuditEntry[] = [];
  failing = false;
  add(entry: NewAuditEntry): void {
    this.buffered.push(entry);
  }
  /** The gateway flushes before forwarding; a later group commit would find nothing left. */
  flushSoon(): void {
    this.flush();
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

/** alice's session on `resource`. */
export function sessionOn(resource: string): NewSession {
  return {
    id: 'sess1',
    requestId: 'req1',
    user: { oid: 'oid-alice', upn: 'alice@contoso.dev' },
    resource,
    clientAddress: '127.0.0.1',
    target: '',
    startedAt: 0,
  };
}

/** Undo steps run after each test of the calling file (servers closed, streams destroyed). */
export function cleanupAfterEach(): Array<() => void> {
  const steps: Array<() => void> = [];
  afterEach(() => {
    for (const undo of steps.splice(0)) undo();
  });
  return steps;
}
