// The operational log: text lines by default, one JSON object per line with `--log-format json`.

import { describe, expect, it } from 'vitest';
import { consoleLogger, turnLines } from '../../broker/log.js';

function recorded(format?: 'text' | 'json'): { lines: string[]; log: ReturnType<typeof consoleLogger> } {
  const lines: string[] = [];
  return { lines, log: consoleLogger((line) => lines.push(line), format) };
}

/** Resolves after the current event-loop turn has ended (its setImmediate callbacks ran). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

describe('turnLines', () => {
  it('writes the lines of one turn together at its end, in order, and a later turn in a write of its own', async () => {
    const writes: string[] = [];
    const lines = turnLines((text) => writes.push(text));
    lines.add('tunnel opened a');
    lines.add('tunnel opened b');
    lines.add('tunnel closed a');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(['tunnel opened a\ntunnel opened b\ntunnel closed a\n']);
    lines.add('tunnel closed b');
    await nextTurn();
    expect(writes).toEqual(['tunnel opened a\ntunnel opened b\ntunnel closed a\n', 'tunnel closed b\n']);
  });

  it('flush writes what is queued at once, and nothing twice', async () => {
    const writes: string[] = [];
    const lines = turnLines((text) => writes.push(text));
    lines.add('stopping');
    lines.flush();
    expect(writes).toEqual(['stopping\n']);
    lines.flush();
    await nextTurn();
    expect(writes).toEqual(['stopping\n']);
  });
});

describe('consoleLogger', () => {
  it('writes text by default: time, level, message and key=value fields', () => {
    const { lines, log } = recorded();
    log.info('tunnel opened', { resource: 'prod-db', detail: 'two words' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info tunnel opened resource=prod-db detail="two words"$/);
  });

  it('writes one JSON object per line with time, level, msg and the fields as they are', () => {
    const { lines, log } = recorded('json');
    log.warn('drain timeout reached', { tunnels: 2, resource: 'prod-db', nested: { a: [1, 2] } });
    log.error('line\nbreak in the message');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).not.toContain('\n');
    const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(first).toEqual({ time: expect.any(String), level: 'warn', msg: 'drain timeout reached', tunnels: 2, resource: 'prod-db', nested: { a: [1, 2] } });
    expect(Number.isNaN(Date.parse(first.time as string))).toBe(false);
    expect(JSON.parse(lines[1] as string)).toMatchObject({ level: 'error', msg: 'line\nbreak in the message' });
  });

  it('keeps a field named like a line key from overwriting it, and writes an Error or a bigint as text', () => {
    const { lines, log } = recorded('json');
    log.info('x', { level: 'forged', msg: 'forged', error: new Error('disk full'), count: 10n });
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 'info',
      msg: 'x',
      'field.level': 'forged',
      'field.msg': 'forged',
      error: 'disk full',
      count: '10',
    });
  });
});
