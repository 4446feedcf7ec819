// The one module that asks people questions (@inquirer/prompts). Every question has a flag or a
// command that answers it without a terminal, and without a terminal no question is asked: the
// caller gets a usage error saying what to pass instead, never a hang. Ctrl-C at a prompt becomes
// a clean `interrupted` exit (130) instead of inquirer's stack trace.
//
// Prompts draw on stderr, so stdout stays the command's result (`--json` output is never mixed
// with a question). Inquirer is imported on the first question, not with the CLI: most commands
// never ask one, and it costs a noticeable share of the CLI's start.

import { AccessError } from '../shared/errors.js';

export interface Choice<T extends string> {
  value: T;
  name: string;
  description?: string;
}

export interface TextQuestion {
  message: string;
  /** What to do without a terminal, e.g. "pass --reason TEXT". */
  instead: string;
  /** Refuse an empty answer (and re-ask). Default: false. */
  required?: boolean;
}

export interface SelectQuestion<T extends string> {
  message: string;
  /** What to do without a terminal, e.g. "use `access approve ID`". */
  instead: string;
  choices: readonly Choice<T>[];
}

export interface Prompts {
  /** Whether questions can be asked at all (input and the prompts' output are terminals). */
  readonly interactive: boolean;
  /** Asks for a line of text; the answer is trimmed. */
  text(question: TextQuestion): Promise<string>;
  /** Asks to pick one of `choices`. */
  select<T extends string>(question: SelectQuestion<T>): Promise<T>;
}

export interface PromptStreams {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The usage error for a question that cannot be asked here; one wording for every command. */
export function noTerminal(message: string, instead: string): AccessError {
  return new AccessError('usage', `there is no terminal to ask "${message}" — ${instead}`);
}

/** Inquirer throws ExitPromptError (matched by name: it lives in a transitive package) on Ctrl-C. */
async function clean<T>(ask: () => Promise<T>): Promise<T> {
  try {
    return await ask();
  } catch (error) {
    if (error instanceof Error && error.name === 'ExitPromptError') {
      throw new AccessError('interrupted', 'stopped at the prompt (Ctrl-C); nothing more was sent to the broker', { cause: error });
    }
    throw error;
  }
}

export function terminalPrompts(streams: PromptStreams): Prompts {
  const interactive = Boolean(streams.input.isTTY) && Boolean(streams.output.isTTY);
  const context = { input: streams.input, output: streams.output };
  return {
    interactive,
    async text(question) {
      if (!interactive) throw noTerminal(question.message, question.instead);
      const { input } = await import('@inquirer/prompts');
      const answer = await clean(() =>
        input(
          {
            message: question.message,
            ...(question.required ? { validate: (value: string) => (value.trim() ? true : 'an answer is needed (Ctrl-C to stop)') } : {}),
          },
          context,
        ),
      );
      return answer.trim();
    },
    async select(question) {
      if (!interactive) throw noTerminal(question.message, question.instead);
      const { select } = await import('@inquirer/prompts');
      return clean(() =>
        select(
          {
            message: question.message,
            choices: question.choices.map((c) => ({ value: c.value, name: c.name, ...(c.description ? { description: c.description } : {}) })),
          },
          context,
        ),
      );
    },
  };
}
