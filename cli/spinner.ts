// A one-line spinner for waits a person watches (a request waiting for its approval). It draws on
// a terminal only: on a pipe or a file it writes nothing at all, so logs stay clean.

import type { Writable } from 'node:stream';
import { safeText } from '../shared/safe-text.js';

/** Braille dots: one cell wide everywhere, and readable without colour. */
export const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;
/** About 12 frames a second: smooth to the eye, negligible CPU. */
export const SPINNER_INTERVAL_MS = 80;

/** Carriage return + "erase the whole line", so each frame replaces the previous one. */
const CLEAR_LINE = '\r\u001b[2K';

export interface Spinner {
  /** Replaces the text shown after the spinning frame. */
  update(text: string): void;
  /** Erases the spinner's line; lines written afterwards start at column 0. Idempotent. */
  stop(): void;
}

const silent: Spinner = { update: () => undefined, stop: () => undefined };

export function startSpinner(stream: Writable & { isTTY?: boolean }, text: string): Spinner {
  if (!stream.isTTY) return silent;
  let frame = 0;
  let current = text;
  const draw = (): void => {
    // The text may quote the broker (a close reason): shown safely, on this one line.
    stream.write(`${CLEAR_LINE}${SPINNER_FRAMES[frame % SPINNER_FRAMES.length] ?? ''} ${safeText(current)}`);
    frame += 1;
  };
  draw();
  // unref: a spinner alone must never keep the process alive.
  const timer = setInterval(draw, SPINNER_INTERVAL_MS).unref();
  let stopped = false;
  return {
    update(next) {
      current = next;
      if (!stopped) draw();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      stream.write(CLEAR_LINE);
    },
  };
}
