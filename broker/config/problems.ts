// What is wrong with a config file, said so a person can fix it: every problem at once, one line
// each, `FILE:LINE key.path: reason (got VALUE)`, the way compilers report. The line is found in
// the YAML syntax tree, so it points at the key the person has to edit.

import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { AccessError } from '../../shared/errors.js';

export type ConfigPath = ReadonlyArray<string | number>;

export interface ConfigProblem {
  path: ConfigPath;
  /** What is wrong and, where it helps, what to write instead. */
  reason: string;
  /** The offending value, quoted in the message; absent when there is none or it must not be shown. */
  got?: unknown;
  /** Set for problems located by the YAML parser itself (syntax errors). */
  offset?: number;
}

export interface LocatedProblem {
  source: string;
  line: number;
  path: string;
  reason: string;
  got?: unknown;
}

/** Keys whose values are never echoed: a secret pasted where a name belongs must not reach logs. */
const SENSITIVE_KEYS = new Set(['clientSecretEnv', 'clientSecret', 'password', 'passwordEnv']);
/** Long values are cut when quoted; the line number already says where the whole value is. */
const MAX_QUOTED_LENGTH = 80;

/** Thrown for a config that cannot be used; `problems` holds each finding for callers and tests. */
export class ConfigInvalidError extends AccessError {
  constructor(
    readonly source: string,
    readonly problems: readonly LocatedProblem[],
  ) {
    super('config_invalid', formatProblems(source, problems));
  }
}

export function formatProblems(source: string, problems: readonly LocatedProblem[]): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const lines = problems.map((problem) => formatProblem(problem));
  return [`The broker config ${source} has ${count}:`, ...lines].join('\n');
}

export function formatProblem(problem: LocatedProblem): string {
  const where = problem.path ? ` ${problem.path}:` : '';
  const got = 'got' in problem ? ` (got ${quote(problem.got)})` : '';
  return `${problem.source}:${problem.line}${where} ${problem.reason}${got}`;
}

/** Dotted key path as people read it: `resources.prod-db.requesters[0]`. */
export function formatPath(path: ConfigPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text ? `.${segment}` : segment;
  }
  return text;
}

/** Places each problem on its line and orders them as they appear in the file. */
export function locateProblems(source: string, problems: readonly ConfigProblem[], doc: Document | null, lineCounter: LineCounter): LocatedProblem[] {
  const located = problems.map((problem): LocatedProblem => {
    const offset = problem.offset ?? (doc ? offsetOf(doc, problem.path) : 0);
    const result: LocatedProblem = {
      source,
      line: lineCounter.linePos(offset).line,
      path: formatPath(problem.path),
      reason: problem.reason,
    };
    const sensitive = problem.path.some((segment) => typeof segment === 'string' && SENSITIVE_KEYS.has(segment));
    if ('got' in problem && !sensitive) result.got = problem.got;
    return result;
  });
  // Stable sort: problems on one line keep the order the validator found them in.
  return located.sort((a, b) => a.line - b.line);
}

/**
 * Offset of the deepest node on `path` that exists: the key itself when the whole path is there
 * (the line a person edits), else the closest ancestor (where a missing key belongs).
 */
function offsetOf(doc: Document, path: ConfigPath): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return Array.isArray(range) ? range[0] : undefined;
}

function quote(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? '[]' : 'a list';
  if (typeof value === 'object') return Object.keys(value).length === 0 ? '{}' : 'a mapping';
  if (typeof value === 'string') {
    const cut = value.length > MAX_QUOTED_LENGTH ? `${value.slice(0, MAX_QUOTED_LENGTH)}…` : value;
    return JSON.stringify(cut);
  }
  return String(value);
}
