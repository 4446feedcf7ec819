// Text that came from outside (a tenant's display names, an identity provider's error messages)
// shown on a terminal: control characters (escape sequences could repaint the screen, newlines
// forge lines) and Unicode bidirectional overrides are written as visible escapes instead.

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point: they are made visible.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu;

export function visible(text: string): string {
  return text.replace(INVISIBLE, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
