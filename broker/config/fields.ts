// The kinds of value a config file holds, as zod schemas whose messages say what belongs there.
// Every message is a reason for `FILE:LINE key.path: reason (got VALUE)` (see problems.ts): the
// key path and the offending value are added around it, so a message names neither.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { parseTarget, type Target } from './target.js';
import type { TargetCa } from './types.js';

type RawIssue = z.core.$ZodRawIssue;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Deliberately loose: the dev tenant only needs something that reads as a sign-in name. */
const EMAIL_SHAPED = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/**
 * A key within this many edits of an allowed key is offered as "did you mean" (and within a third
 * of its length, so a short key does not "resemble" everything).
 */
const MAX_SUGGESTION_DISTANCE = 3;

/** Message for a value that is missing or of the wrong type: says what belongs there. */
function shapeMessage(expected: string, hint: string): (issue: RawIssue) => string {
  return (issue) => (issue.input === undefined ? `is required — ${hint}` : `must be ${expected} — ${hint}`);
}

/**
 * A mapping that refuses keys it does not know: a typo in a security policy (`aprovers`) must
 * not be silently ignored.
 */
export function strictMapping<Shape extends z.core.$ZodLooseShape>(shape: Shape, hint: string) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return unknownKeysMessage(issue.keys, allowed);
      return shapeMessage('a mapping', hint)(issue);
    },
  });
}

export function unknownKeysMessage(keys: readonly string[], allowed: readonly string[]): string {
  const choices = `allowed here: ${allowed.join(', ')}`;
  if (keys.length !== 1) return `unknown keys ${keys.map((key) => `"${key}"`).join(', ')} — ${choices}`;
  const suggestion = closest(keys[0] as string, allowed);
  return suggestion ? `unknown key — did you mean "${suggestion}"?` : `unknown key — ${choices}`;
}

/** Non-empty text, trimmed. */
export function text(hint: string) {
  return z
    .string({ error: shapeMessage('text', hint) })
    .trim()
    .min(1, { error: `must not be empty — ${hint}` });
}

/** A list of names (group references, user groups). */
export function nameList(hint: string, options: { nonEmpty: boolean }) {
  const list = z.array(text(hint), { error: shapeMessage('a list', hint) });
  return options.nonEmpty ? list.min(1, { error: `must name at least one — ${hint}` }) : list;
}

export function wholeNumber(min: number, max: number, hint: string) {
  const message = `must be a whole number from ${min} to ${max} — ${hint}`;
  return z.int({ error: message }).min(min, { error: message }).max(max, { error: message });
}

export function choice<const Values extends readonly [string, ...string[]]>(values: Values, hint: string) {
  const listed = values.join(', ');
  return z.enum(values, {
    error: (issue) => (issue.input === undefined ? `is required — one of ${listed} (${hint})` : `must be one of ${listed}`),
  });
}

/** A duration such as "30m", "4h", "1d" (shared/duration.ts), as milliseconds, at most `maxMs`. */
export function duration(hint: string, maxMs: number, maxReason: string) {
  return z.string({ error: shapeMessage('a duration such as 4h', hint) }).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is not a duration — use e.g. 30m, 4h, 1d', input: value });
      return z.NEVER;
    }
    if (ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(maxMs)} — ${maxReason}`, input: value });
      return z.NEVER;
    }
    return ms;
  });
}

export function target(hint: string) {
  return z.string({ error: shapeMessage('host:port such as db.internal:5432', hint) }).transform((value, ctx): Target => {
    const parsed = parseTarget(value);
    if ('problem' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.problem, input: value });
      return z.NEVER;
    }
    return parsed;
  });
}

/** A CA file is a certificate or a short chain; anything this large is the wrong file. */
export const MAX_CA_FILE_BYTES = 1024 * 1024;

/**
 * A PEM file of CA certificates, read now (config load is start-up, so a missing or wrong file
 * stops the broker instead of failing its first tunnel). Relative paths are relative to `baseDir`,
 * the config file's directory, so a config and its CA can move together.
 */
export function caFile(hint: string, baseDir: string) {
  return z
    .string({ error: shapeMessage('the path of a PEM file', hint) })
    .trim()
    .min(1, { error: `must not be empty — ${hint}` })
    .transform((value, ctx): TargetCa => {
      const file = path.resolve(baseDir, value);
      let pem: string;
      try {
        const bytes = readFileSync(file);
        if (bytes.length > MAX_CA_FILE_BYTES) throw new Error(`it is ${bytes.length} bytes, too large for a CA file (at most ${MAX_CA_FILE_BYTES})`);
        pem = bytes.toString('utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : error instanceof Error ? error.message : String(error);
        ctx.addIssue({ code: 'custom', message: `cannot read ${file}: ${why} — ${hint}`, input: value });
        return z.NEVER;
      }
      try {
        // Parses the first certificate: enough to tell a CA file from a key or a wrong path.
        new X509Certificate(pem);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----) — ${hint}`, input: value });
        return z.NEVER;
      }
      return { file, pem };
    });
}

/** An Entra object/application/tenant id, normalized to lower case as tokens carry it. */
export function guid(hint: string) {
  return z
    .string({ error: shapeMessage('a GUID', hint) })
    .trim()
    .regex(GUID, { error: `must be a GUID such as 2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10 — ${hint}` })
    .toLowerCase();
}

/** An https origin with no path, e.g. https://login.microsoftonline.com, normalized to its origin. */
export function httpsOrigin(hint: string) {
  return z.string({ error: shapeMessage('an https URL', hint) }).transform((value, ctx) => {
    const url = URL.canParse(value) ? new URL(value) : null;
    const bare = url !== null && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
    if (url?.protocol !== 'https:' || !bare) {
      ctx.addIssue({ code: 'custom', message: `must be an https URL with no path — ${hint}`, input: value });
      return z.NEVER;
    }
    return url.origin;
  });
}

/** A RegExp source, checked to compile the way the broker will compile it (no flags). */
export function regexSource(hint: string) {
  return z.string({ error: shapeMessage('a regular expression', hint) }).superRefine((value, ctx) => {
    try {
      new RegExp(value);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${detail}`, input: value });
    }
  });
}

/**
 * The NAME of an environment variable holding a secret, resolved to the secret. The file never
 * holds the secret itself, so the config can live in version control.
 */
export function secretFromEnv(env: NodeJS.ProcessEnv, hint: string) {
  return z.string({ error: shapeMessage('the name of an environment variable', hint) }).transform((name, ctx) => {
    if (!ENV_NAME.test(name)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be the NAME of an environment variable (e.g. ACCESS_GRAPH_CLIENT_SECRET), never the secret itself',
      });
      return z.NEVER;
    }
    const value = env[name];
    if (!value) {
      ctx.addIssue({
        code: 'custom',
        message: `environment variable ${name} is ${value === undefined ? 'not set' : 'empty'} — set it to the Graph app's client secret before starting the broker`,
      });
      return z.NEVER;
    }
    return value;
  });
}

export function emailShaped(hint: string) {
  return text(hint).regex(EMAIL_SHAPED, { error: `must look like an email address, e.g. alice@contoso.dev — ${hint}` });
}

/** The allowed key nearest to a typo, when it is near enough to be what was meant. */
function closest(key: string, allowed: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.min(MAX_SUGGESTION_DISTANCE, Math.ceil(key.length / 3)) + 1;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
