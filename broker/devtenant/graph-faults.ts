// Simulated Graph faults of a running dev broker, for fault tests driving it from outside (the
// broker is another process, so an in-process `setGraphAvailable` cannot reach it). Only when
// `access-broker dev` runs with ACCESS_DEV_GRAPH_FAULTS=<file>: the file is read on every Graph
// call, and its first word says what Graph does now —
//   down   every Graph call answers 503 serviceNotAvailable (an outage), at once;
//   stall  every Graph call is held unanswered until the caller gives up (a hung Graph);
//   anything else, an empty or missing file: Graph answers normally.
// Without the variable nothing is read and Graph cannot be made to fail: a real tenant never has this.

import { readFileSync } from 'node:fs';

export const GRAPH_FAULTS_ENV = 'ACCESS_DEV_GRAPH_FAULTS';

export type GraphFault = 'down' | 'stall' | null;

/** What the fault file says now. */
export function readGraphFault(file: string): GraphFault {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const word = text.trim().split(/\s+/)[0];
  return word === 'down' || word === 'stall' ? word : null;
}

/** The fault source for ACCESS_DEV_GRAPH_FAULTS in `env`, or one that never faults. */
export function graphFaultsFromEnv(env: NodeJS.ProcessEnv): () => GraphFault {
  const file = env[GRAPH_FAULTS_ENV];
  return file ? () => readGraphFault(file) : () => null;
}
