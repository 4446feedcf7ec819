// Opening the system browser for `access login --browser`. Which command opens it is decided by a
// pure function (environment and platform in, a plan out); starting it is the only effect. Where
// no browser can be opened (CI, no display, no terminal) the plan says why and the sign-in URL,
// which is always printed, is what the person copies.
//
// ACCESS_BROWSER, else BROWSER (the variable many CLIs honour), names the command: its words are
// split on spaces (no shell runs it) and the URL is appended as the last argument.

import { spawn } from 'node:child_process';

export type BrowserPlan = { kind: 'open'; command: string; args: string[] } | { kind: 'print'; reason: string };

export interface BrowserEnvironment {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** Whether a person is at a terminal (stderr is a TTY). */
  interactive: boolean;
}

/** How to open `url` here, or why it cannot be opened (then the printed URL is the way). */
export function browserPlan(url: string, where: BrowserEnvironment): BrowserPlan {
  const named = (where.env.ACCESS_BROWSER ?? where.env.BROWSER ?? '').trim();
  if (named) {
    const [command, ...args] = named.split(/\s+/);
    return { kind: 'open', command: command as string, args: [...args, url] };
  }
  if (where.env.CI) return { kind: 'print', reason: 'CI is set' };
  if (!where.interactive) return { kind: 'print', reason: 'no terminal is attached' };
  switch (where.platform) {
    case 'darwin':
      return { kind: 'open', command: 'open', args: [url] };
    case 'win32':
      // Not `cmd /c start`: cmd would read `&` in the URL as a command separator.
      return { kind: 'open', command: 'rundll32', args: ['url.dll,FileProtocolHandler', url] };
    default:
      if (!where.env.DISPLAY && !where.env.WAYLAND_DISPLAY)
        return { kind: 'print', reason: 'there is no graphical display: DISPLAY and WAYLAND_DISPLAY are unset' };
      return { kind: 'open', command: 'xdg-open', args: [url] };
  }
}

/**
 * Starts the plan's command, detached (the browser outlives nothing of ours). Resolves null once
 * it started, or why it could not start (e.g. `xdg-open: ENOENT`).
 */
export function startBrowser(plan: Extract<BrowserPlan, { kind: 'open' }>): Promise<string | null> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(plan.command, plan.args, { stdio: 'ignore', detached: true });
    } catch (error) {
      resolve(`${plan.command}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    child.once('error', (error: NodeJS.ErrnoException) => resolve(`${plan.command}: ${error.code ?? error.message}`));
    child.once('spawn', () => {
      child.unref();
      resolve(null);
    });
  });
}
