// The one module that writes what people (and scripts) read: tables for people, JSON for
// scripts, colour only on a terminal and never with NO_COLOR, notices on stderr so stdout stays
// clean for pipes.

import type { Writable } from 'node:stream';
import { displayable } from '../shared/safe-text.js';
import { startSpinner, type Spinner } from './spinner.js';

export interface OutputStreams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

export type Style = (text: string) => string;

const ansi =
  (open: number, close: number): Style =>
  (text) =>
    `\u001b[${open}m${text}\u001b[${close}m`;
const plain: Style = (text) => text;

export class Output {
  readonly #streams: OutputStreams;
  readonly color: boolean;
  readonly bold: Style;
  readonly dim: Style;
  readonly green: Style;
  readonly red: Style;
  readonly yellow: Style;

  constructor(streams: OutputStreams, env: NodeJS.ProcessEnv) {
    this.#streams = streams;
    this.color = Boolean(streams.stdout.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
    const pick = (style: Style): Style => (this.color ? style : plain);
    this.bold = pick(ansi(1, 22));
    this.dim = pick(ansi(2, 22));
    this.green = pick(ansi(32, 39));
    this.red = pick(ansi(31, 39));
    this.yellow = pick(ansi(33, 39));
  }

  get interactive(): boolean {
    return Boolean(this.#streams.stdout.isTTY);
  }

  /**
   * A broker answer made fit for a person's terminal: a copy with every string's control
   * characters shown visibly (shared/safe-text.ts). Words for people are formatted from this copy;
   * `json()` / `jsonLine()` print the original, exactly.
   */
  forPeople<T>(value: T): T {
    return displayable(value);
  }

  /** A line of the command's result, on stdout. */
  line(text = ''): void {
    this.#streams.stdout.write(`${text}\n`);
  }

  /** A machine-readable result, on stdout. */
  json(value: unknown): void {
    this.#streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** One compact JSON object per line (a feed a script reads line by line), on stdout. */
  jsonLine(value: unknown): void {
    this.#streams.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** A spinner on stderr while waiting; draws only when stderr is a terminal, else writes nothing. */
  spinner(text: string): Spinner {
    return startSpinner(this.#streams.stderr, text);
  }

  /** Progress, notices and prompts' context, on stderr (never mixed into results). */
  notice(text: string): void {
    this.#streams.stderr.write(`${text}\n`);
  }

  /** Columns padded to the widest cell; the header in bold on a terminal. */
  table(headers: readonly string[], rows: readonly (readonly string[])[]): void {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const format = (cells: readonly string[]): string =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd();
    this.line(this.bold(format(headers)));
    for (const row of rows) this.line(format(row));
  }
}
