import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { terminalPrompts } from '../../cli/prompts.js';
import { ExitCode } from '../../shared/errors.js';

/** A pair of streams that claim to be a terminal, like a pty would; returns what was drawn. */
function fakeTerminal(): { input: PassThrough & { isTTY: boolean }; output: PassThrough & { isTTY: boolean }; drawn: () => string } {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input });
  const output = Object.assign(new PassThrough(), { isTTY: true });
  let text = '';
  output.on('data', (c: Buffer) => (text += c.toString()));
  return { input, output, drawn: () => text };
}

describe('terminalPrompts', () => {
  it('refuses to ask without a terminal, saying what to pass instead (usage, exit 2)', async () => {
    const prompts = terminalPrompts({ input: new PassThrough(), output: new PassThrough() });
    expect(prompts.interactive).toBe(false);
    const text = prompts.text({ message: 'Reason for denying r1:', instead: 'pass --reason TEXT', required: true });
    await expect(text).rejects.toMatchObject({ code: 'usage', message: 'there is no terminal to ask "Reason for denying r1:" — pass --reason TEXT' });
    const select = prompts.select({ message: 'Decision on r1', instead: 'use `access approve ID`', choices: [{ value: 'approve', name: 'Approve' }] });
    await expect(select).rejects.toMatchObject({ code: 'usage', exitCode: ExitCode.usage });
  });

  it('refuses when only the input is a terminal (the question would be drawn into a pipe)', () => {
    const { input } = fakeTerminal();
    expect(terminalPrompts({ input, output: new PassThrough() }).interactive).toBe(false);
  });

  it('asks on a terminal and returns the trimmed answer', async () => {
    const term = fakeTerminal();
    const answer = terminalPrompts(term).text({ message: 'Reason?', instead: 'pass --reason TEXT' });
    await vi.waitFor(() => expect(term.drawn()).toContain('Reason?'));
    term.input.write('  INC-9: disk full \r');
    expect(await answer).toBe('INC-9: disk full');
  });

  it('returns the chosen value of a select', async () => {
    const term = fakeTerminal();
    const choice = terminalPrompts(term).select({
      message: 'Decision',
      instead: 'n/a',
      choices: [
        { value: 'approve', name: 'Approve' },
        { value: 'deny', name: 'Deny' },
      ],
    });
    await vi.waitFor(() => expect(term.drawn()).toContain('Approve'));
    term.input.write('\u001b[B'); // arrow down
    term.input.write('\r');
    expect(await choice).toBe('deny');
  });

  it('turns Ctrl-C at a prompt into a clean interrupted error (exit 130)', async () => {
    const term = fakeTerminal();
    const answer = terminalPrompts(term).text({ message: 'Reason?', instead: 'pass --reason TEXT' });
    await vi.waitFor(() => expect(term.drawn()).toContain('Reason?'));
    term.input.write('\u0003');
    await expect(answer).rejects.toMatchObject({ code: 'interrupted', exitCode: 130 });
  });
});
