// `credentials:` of a postgres or mysql resource: the database logins the broker holds, so the
// person connecting never sees a password (credential injection). Each entry names where its
// password is — an environment variable (`passwordEnv`) or a file (`passwordFile`, relative to the
// config file) — never the password itself, so the config can live in version control. Passwords
// are read at start: a missing variable or file stops the broker with its name, not the first tunnel.
//
//   credentials:
//     - user: app_owner
//       passwordEnv: PROD_DB_OWNER_PASSWORD
//       groups: [sg-leads]             # optional: the first entry whose groups the requester is in wins
//     - user: app_readonly
//       passwordFile: ./secrets/ro     # no groups: matches everyone
//
// The password is a non-enumerable property of the parsed credential: JSON.stringify, util.inspect
// and object spread leave it out, so a policy logged or serialized whole never carries it.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ENV_NAME, strictMapping, text } from './fields.js';
import { type GroupRefEntry, groupRefList, refsOf } from './group-refs.js';
import type { DatabaseCredential } from './types.js';

/** A password file holds one password; anything this large is the wrong file. */
export const MAX_PASSWORD_FILE_BYTES = 64 * 1024;
/** More logins than this for one resource is a user directory, not a policy. */
export const MAX_CREDENTIALS = 20;

const INLINE_REFUSED =
  'must not be written in the config — put the password in an environment variable and name it as passwordEnv, or in a file readable only by the broker and name it as passwordFile';
const SOURCE_HINT = 'exactly one of passwordEnv (an environment variable) or passwordFile (a file, relative to the config file)';

/** A credential as parsed, beside the group entries its labels are collected from (schema.ts). */
export interface ParsedCredential {
  credential: DatabaseCredential;
  groupEntries: GroupRefEntry[];
}

/** Makes a credential whose password is never enumerated (so never serialized, inspected or spread). */
export function databaseCredential(fields: Omit<DatabaseCredential, 'password'>, password: string): DatabaseCredential {
  const credential = { ...fields } as DatabaseCredential;
  Object.defineProperty(credential, 'password', { value: password, enumerable: false, writable: false });
  return credential;
}

/** The password in `env[name]`, or why there is none (the message names the variable, never a value). */
function passwordFromEnv(env: NodeJS.ProcessEnv, name: string, user: string): { password: string } | { problem: string } {
  const value = env[name];
  if (value === undefined)
    return { problem: `environment variable ${name} is not set — set it to the password of database user ${user} before starting the broker` };
  if (value === '') return { problem: `environment variable ${name} is empty — set it to the password of database user ${user}` };
  return { password: value };
}

/** The password in `file` (one trailing newline dropped, as editors and `echo` add it), or why there is none. */
function passwordFromFile(file: string, user: string): { password: string } | { problem: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? "permission denied — let the broker's user read it"
          : code === 'EISDIR'
            ? 'it is a directory'
            : error instanceof Error
              ? error.message
              : String(error);
    return { problem: `cannot read the password file ${file}: ${why}` };
  }
  if (bytes.length > MAX_PASSWORD_FILE_BYTES) {
    return {
      problem: `the password file ${file} is ${bytes.length} bytes, more than a password (at most ${MAX_PASSWORD_FILE_BYTES}) — is this the right file?`,
    };
  }
  const password = bytes.toString('utf8').replace(/\r?\n$/, '');
  if (password === '') return { problem: `the password file ${file} is empty — write the password of database user ${user} in it` };
  return { password };
}

/** The `credentials` list of one resource (`baseDir`: where relative passwordFile paths start). */
export function credentialList(env: NodeJS.ProcessEnv, baseDir: string, idsOnly: boolean) {
  const entry = strictMapping(
    {
      user: text('the database user the broker logs in as, e.g. app_readonly'),
      passwordEnv: z.string({ error: 'must be the NAME of an environment variable holding the password, e.g. PROD_DB_PASSWORD' }).optional(),
      passwordFile: text('the path of a file holding the password, relative to the config file').optional(),
      // Accepted by the shape only to be refused with a reason (a strict mapping would say "unknown key").
      password: z.unknown().optional(),
      groups: groupRefList('groups whose members get this login (the first entry that matches wins; none: everyone)', { nonEmpty: true, idsOnly }).optional(),
    },
    `a database login: { user, passwordEnv or passwordFile, groups } (${SOURCE_HINT})`,
  ).transform((raw, ctx): ParsedCredential => {
    if (raw.password !== undefined) {
      // The value is never echoed: `password` is a sensitive key (problems.ts).
      ctx.addIssue({ code: 'custom', path: ['password'], message: INLINE_REFUSED });
      return z.NEVER;
    }
    const given = (raw.passwordEnv === undefined ? 0 : 1) + (raw.passwordFile === undefined ? 0 : 1);
    if (given !== 1) {
      ctx.addIssue({ code: 'custom', message: `${given === 0 ? 'names no password' : 'names two passwords'} — give ${SOURCE_HINT}` });
      return z.NEVER;
    }
    let source: string;
    let found: { password: string } | { problem: string };
    if (raw.passwordEnv !== undefined) {
      if (!ENV_NAME.test(raw.passwordEnv)) {
        // Never echoed either (a sensitive key): what looks like no variable name may be the password itself.
        ctx.addIssue({
          code: 'custom',
          path: ['passwordEnv'],
          message: 'must be the NAME of an environment variable (letters, digits, _), e.g. PROD_DB_PASSWORD — never the password itself',
        });
        return z.NEVER;
      }
      source = `$${raw.passwordEnv}`;
      found = passwordFromEnv(env, raw.passwordEnv, raw.user);
    } else {
      const file = path.resolve(baseDir, raw.passwordFile as string);
      source = file;
      found = passwordFromFile(file, raw.user);
    }
    if ('problem' in found) {
      ctx.addIssue({ code: 'custom', path: [raw.passwordEnv !== undefined ? 'passwordEnv' : 'passwordFile'], message: found.problem });
      return z.NEVER;
    }
    const groupEntries = raw.groups ?? [];
    return { credential: databaseCredential({ user: raw.user, source, groups: refsOf(groupEntries) }, found.password), groupEntries };
  });
  return z
    .array(entry, { error: 'must be a list of database logins, e.g. [{ user: app_readonly, passwordEnv: PROD_DB_RO_PASSWORD }]' })
    .min(1, { error: 'must name at least one login — or remove `credentials` to let clients log in themselves' })
    .max(MAX_CREDENTIALS, { error: `must name at most ${MAX_CREDENTIALS} logins` })
    .superRefine((list, ctx) => {
      // An entry after one that matches everyone can never be chosen: a policy that says more than it does.
      const everyone = list.findIndex((parsed) => parsed.credential.groups.length === 0);
      if (everyone === -1) return;
      for (let index = everyone + 1; index < list.length; index++) {
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: `can never be chosen: entry ${everyone} before it has no groups, so it matches everyone — move entry ${everyone} last or give it groups`,
        });
      }
    });
}
