// Sign-in on a tenant that blocks device code, end to end with real processes and a real headless
// Chromium: `access-broker dev --block-device-code --sign-in browser`, the `access` CLI, and the
// browser clicking through the dev tenant's pages. Also every other way a sign-in ends, with its
// exit code: declined (3), blocked (3), expired (5), broker unreachable (1).

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chromium, chromiumMissing } from '../helpers/chromium.js';
import {
  DEVICE_CODE_MESSAGE,
  runCli,
  startCli,
  startDevBrokerProcess,
  submitDeviceLogin,
  tempDir,
  waitForMatch,
  type DevBrokerProcess,
} from '../helpers/processes.js';

const missing = chromiumMissing();
if (missing) process.stderr.write(`skipping the browser sign-in tests: ${missing}\n`);

/** The printed sign-in URL (`access login --browser` prints it on its own line, indented). */
const PRINTED_URL = /^ {2}(http:\/\/\S+\/oauth2\/v2\.0\/authorize\?\S+)$/m;

let blocking: DevBrokerProcess;
let chromium: Chromium;
/** A BROWSER command that hands each URL it is given to the test (appends it to a file). */
let browserCommand: string;
let urlsFile: string;

beforeAll(async () => {
  if (missing) return;
  blocking = await startDevBrokerProcess(['--block-device-code', '--sign-in', 'browser']);
  chromium = await Chromium.launch();
  const dir = await tempDir('browser-command');
  urlsFile = path.join(dir, 'urls.txt');
  browserCommand = path.join(dir, 'hand-over.sh');
  await writeFile(urlsFile, '');
  await writeFile(browserCommand, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${urlsFile}'\n`, { mode: 0o755 });
});

afterAll(async () => {
  await chromium?.close();
  await blocking?.stop();
});

/** Waits until the BROWSER command has been given more than `seen` URLs; returns the next one. */
async function nextHandedUrl(seen: number): Promise<string> {
  const start = Date.now();
  for (;;) {
    const urls = (await readFile(urlsFile, 'utf8')).split('\n').filter(Boolean);
    if (urls.length > seen) return urls[seen] as string;
    if (Date.now() - start > 60_000) throw new Error('the CLI never opened a browser (BROWSER was not run)');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function handedCount(): Promise<number> {
  return (await readFile(urlsFile, 'utf8')).split('\n').filter(Boolean).length;
}

/** In Chromium: the authorize page at `url`, pick `upn`, press Sign in; the page posts the answer to the CLI's loopback. */
async function signInWithChromium(url: string, upn: string): Promise<void> {
  const page = await chromium.open(url);
  await page.click(`input[name="username"][value="${upn}"]`);
  await page.click('button[value="sign_in"]');
  // The answer reached the CLI's listener, which shows its plain page.
  await page.waitFor(`document.body && document.body.innerText.includes('You may close this tab')`);
}

describe.skipIf(missing !== null)('a tenant that blocks device code sign-in, with a real browser', () => {
  it('refuses device code with AADSTS53003, and access login says to use --browser (exit 3)', async () => {
    const home = await tempDir('blocked');
    const run = startCli(['login', '--broker', blocking.url, '--device-code'], home);
    const match = await waitForMatch(run.stderr, DEVICE_CODE_MESSAGE);
    const page = await submitDeviceLogin(blocking.url, match[2] as string, 'alice@contoso.dev');
    expect(page.status).toBe(403);
    expect(page.body).toContain('You cannot access this right now');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain('your tenant blocks device code sign-in (Conditional Access, AADSTS53003) — run `access login --browser`');
  });

  it('signs in with --browser: the CLI opens the browser (BROWSER), Chromium picks a user, and whoami shows them', async () => {
    const home = await tempDir('browser');
    const seen = await handedCount();
    const run = startCli(['login', '--broker', blocking.url, '--browser'], home, { BROWSER: browserCommand });
    const url = await nextHandedUrl(seen);
    expect(new URL(url).origin).toBe(blocking.url);
    expect(run.stderr()).toContain('Opening your browser to sign in');
    await signInWithChromium(url, 'bob@contoso.dev');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Signed in as Bob');

    const whoami = await runCli(['whoami', '--json'], home);
    expect(whoami.code, whoami.stderr).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ upn: 'bob@contoso.dev', broker: blocking.url });
  });

  it("uses the browser without a flag where the broker names it the tenant's sign-in", async () => {
    const home = await tempDir('preferred');
    const seen = await handedCount();
    const run = startCli(['login', '--broker', blocking.url], home, { BROWSER: browserCommand });
    await signInWithChromium(await nextHandedUrl(seen), 'carol@contoso.dev');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(DEVICE_CODE_MESSAGE);
    expect(result.stdout).toContain('carol@contoso.dev');
  });

  it('prints a URL a person can copy when it cannot open a browser, and Decline there ends it (exit 3)', async () => {
    const home = await tempDir('declined');
    // No BROWSER, no terminal (and in CI, CI=true): the CLI prints the URL and says why it opened nothing.
    const run = startCli(['login', '--broker', blocking.url, '--browser'], home, { BROWSER: '' });
    const printed = await waitForMatch(run.stderr, PRINTED_URL);
    expect(run.stderr()).toMatch(/none was opened: (no terminal is attached|CI is set)/);
    const page = await chromium.open(printed[1] as string);
    await page.click('button[value="decline"]');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain('the sign-in was declined on the sign-in page, so nobody was signed in');
    const whoami = await runCli(['whoami'], home);
    expect(whoami.code).toBe(4);
  });

  it('says plainly that it cannot reach the broker (exit 1)', async () => {
    const result = await runCli(['login', '--broker', 'http://127.0.0.1:1', '--browser'], await tempDir('unreachable'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot reach the broker at http://127.0.0.1:1');
  });

  it('refuses --browser with --device-code as a usage error (exit 2)', async () => {
    const result = await runCli(['login', '--broker', blocking.url, '--browser', '--device-code'], await tempDir('both'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--browser and --device-code contradict each other');
  });

  it('refuses the contradiction before reaching for the broker, so an unreachable one does not hide it', async () => {
    const result = await runCli(['login', '--broker', 'http://127.0.0.1:1', '--browser', '--device-code'], await tempDir('both-unreachable'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--browser and --device-code contradict each other');
  });
});

describe.skipIf(missing !== null)('device code outcomes', () => {
  let shortCodes: DevBrokerProcess;

  beforeAll(async () => {
    shortCodes = await startDevBrokerProcess(['--device-code-lifetime', '3s']);
  });
  afterAll(async () => {
    await shortCodes?.stop();
  });

  it('ends with exit 3 when the person presses Decline on the device-login page in the browser', async () => {
    const run = startCli(['login', '--broker', shortCodes.url], await tempDir('device-decline'));
    const match = await waitForMatch(run.stderr, DEVICE_CODE_MESSAGE);
    const page = await chromium.open(`${shortCodes.url}/devicelogin?user_code=${match[2] as string}`);
    await page.click('button[value="decline"]');
    await page.waitFor(`document.title.startsWith('Sign-in declined')`);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain('declined on the sign-in page');
  });

  it('ends with exit 5 when the code expires unused', async () => {
    const result = await runCli(['login', '--broker', shortCodes.url], await tempDir('device-expired'));
    expect(result.code, result.stderr).toBe(5);
    expect(result.stderr).toContain('the sign-in code expired before the sign-in was finished — run `access login` again');
  });
});
