// Reads the broker's YAML config (the form is in schema.ts and examples/access.yaml) into a
// BrokerConfig, or refuses it with every problem at once, each on its own line as
// `FILE:LINE key.path: reason (got VALUE)`. Bad config is refused at start, never half-applied.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { AccessError } from '../../shared/errors.js';
import { ConfigInvalidError, locateProblems, type ConfigPath, type ConfigProblem } from './problems.js';
import { configSchema } from './schema.js';
import { storeUrl } from './store-url.js';
import type { BrokerConfig } from './types.js';

export interface ConfigOptions {
  /** Accept a `devTenant` section (`access-broker dev --config`). Default false. */
  allowDevDirectory?: boolean;
  /**
   * Refuse a file without a `tenant` block (`access-broker serve`). Default false. Such a file must
   * also name groups by object id (config/group-refs.ts) unless `allowGroupNames`.
   */
  requireTenant?: boolean;
  /** Accept display names beside `requireTenant` — only to read the tenant block while explaining their refusal. Default false. */
  allowGroupNames?: boolean;
  /** Where relative paths in the file (`targetCa`) start. Default: the file's directory (loadConfigFile), else the working directory. */
  baseDir?: string;
}

/** A policy file is a few kilobytes; anything this large is the wrong file. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Parses and validates config text. `source` names it in messages (a path, or "(built-in demo)");
 * `env` is where the Graph client secret is looked up. Throws ConfigInvalidError (code
 * `config_invalid`) listing every problem.
 */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv, options: ConfigOptions = {}): BrokerConfig {
  const schema = configSchema({
    env,
    allowDevDirectory: options.allowDevDirectory ?? false,
    requireTenant: options.requireTenant ?? false,
    groupIdsOnly: (options.requireTenant ?? false) && !(options.allowGroupNames ?? false),
    baseDir: options.baseDir ?? process.cwd(),
  });
  return { source, ...(validateYaml(text, source, schema) as Omit<BrokerConfig, 'source'>) };
}

/** Only what the file says under `store:`, for the commands that need nothing else (schema below). */
const storeOnlySchema = z.looseObject({ store: storeUrl().optional() }, { error: 'must be a mapping — the broker config (see examples/access.yaml)' });

/**
 * The `store:` of a config file (undefined when absent), for `migrate` and `backup`: they need the
 * database and nothing else, so the rest of the file (and the secrets it names) is not checked.
 */
export async function loadStoreUrl(file: string): Promise<string | undefined> {
  const text = await readConfigText(file);
  return validateYaml(text, file, storeOnlySchema).store;
}

/** Parses YAML text and validates it with `schema`, or throws ConfigInvalidError listing every problem. */
function validateYaml<T>(text: string, source: string, schema: z.ZodType<T>): T {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const refuse = (problems: ConfigProblem[], tree: Document | null): never => {
    throw new ConfigInvalidError(source, locateProblems(source, problems, tree, lineCounter));
  };

  // Warnings too (e.g. an unknown !tag): a policy file must mean exactly what it says.
  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) {
    refuse(
      syntax.map((error) => ({ path: [], reason: `YAML: ${error.message}`, offset: error.pos[0] })),
      null,
    );
  }

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // toJS fails on what the parser lets through, such as an alias to an undefined anchor.
    refuse([{ path: [], reason: `YAML: ${error instanceof Error ? error.message : String(error)}` }], doc);
  }
  if (data === null || data === undefined) {
    refuse([{ path: [], reason: 'the file is empty — it needs at least `resources` (see examples/access.yaml)' }], doc);
  }

  const result = schema.safeParse(data, { reportInput: true, error: fallbackMessage });
  if (!result.success) refuse(result.error.issues.map(issueProblem), doc);
  return result.data as T;
}

/** Reads and parses a config file; a missing or unreadable file is refused naming the path. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv, options: ConfigOptions = {}): Promise<BrokerConfig> {
  const text = await readConfigText(file);
  return parseConfig(text, file, env, { baseDir: path.dirname(path.resolve(file)), ...options });
}

async function readConfigText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new AccessError('config_invalid', unreadableMessage(file, error), { cause: error });
  }
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new AccessError(
      'config_invalid',
      `config file ${file} is ${bytes.length} bytes, more than the ${MAX_CONFIG_BYTES} a config may be — is this the right file?`,
    );
  }
  return bytes.toString('utf8');
}

function unreadableMessage(file: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return `config file not found: ${file} — check the path (examples/access.yaml shows the form)`;
    case 'EACCES':
    case 'EPERM':
      return `cannot read config file ${file}: permission denied — let the broker's user read it`;
    case 'EISDIR':
      return `config file ${file} is a directory — pass the YAML file inside it`;
    default:
      return `cannot read config file ${file}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Messages for the few issues no field schema words itself. */
function fallbackMessage(issue: z.core.$ZodRawIssue): string | undefined {
  return issue.input === undefined ? 'is required' : undefined;
}

function issueProblem(issue: z.core.$ZodIssue): ConfigProblem {
  const path: ConfigPath = issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
  if (issue.code === 'unrecognized_keys') {
    // One unknown key (the usual typo) is reported at the key itself; several at their mapping.
    return { path: issue.keys.length === 1 ? [...path, issue.keys[0] as string] : path, reason: issue.message };
  }
  const problem: ConfigProblem = { path, reason: issue.message };
  // A section refused in this mode (schema.ts refusedSection): its content is beside the point.
  if (issue.code === 'invalid_type' && issue.expected === 'never') return problem;
  const input = (issue as { input?: unknown }).input;
  if (input === undefined) return problem;
  // A custom check's input defaults to the whole mapping it ran on, which says nothing; type
  // errors say what was written instead ("got a list").
  const composite = typeof input === 'object' && input !== null;
  if (issue.code === 'custom' && composite) return problem;
  return { ...problem, got: input };
}
