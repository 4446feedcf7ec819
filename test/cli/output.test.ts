import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Output } from '../../cli/output.js';

function streams(isTTY: boolean): { stdout: PassThrough & { isTTY?: boolean }; stderr: PassThrough; read: () => string } {
  const stdout = Object.assign(new PassThrough(), { isTTY });
  const stderr = new PassThrough();
  let text = '';
  stdout.on('data', (c: Buffer) => (text += c.toString()));
  return { stdout, stderr, read: () => text };
}

describe('Output', () => {
  it('colours only on a terminal', () => {
    expect(new Output(streams(true), {}).color).toBe(true);
    expect(new Output(streams(false), {}).color).toBe(false);
  });

  it('never colours with NO_COLOR set', () => {
    expect(new Output(streams(true), { NO_COLOR: '' }).color).toBe(false);
  });

  it('pads table columns to the widest cell', () => {
    const s = streams(false);
    new Output(s, {}).table(
      ['NAME', 'KIND'],
      [
        ['demo-db', 'postgres'],
        ['x', 'tcp'],
      ],
    );
    expect(s.read()).toBe('NAME     KIND\ndemo-db  postgres\nx        tcp\n');
  });
});
