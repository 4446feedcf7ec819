import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startSpinner } from '../../cli/spinner.js';

function stream(isTTY: boolean): { s: PassThrough & { isTTY: boolean }; text: () => string } {
  const s = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  return { s, text: () => text };
}

describe('startSpinner', () => {
  it('writes nothing at all when the stream is not a terminal', () => {
    const { s, text } = stream(false);
    const spinner = startSpinner(s, 'waiting…');
    spinner.update('still waiting…');
    spinner.stop();
    expect(text()).toBe('');
  });

  it('draws on a terminal and erases its line when stopped', () => {
    const { s, text } = stream(true);
    const spinner = startSpinner(s, 'waiting…');
    spinner.update('1 more…');
    spinner.stop();
    spinner.stop();
    expect(text()).toBe('\r\u001b[2K⠋ waiting…\r\u001b[2K⠙ 1 more…\r\u001b[2K');
  });
});
