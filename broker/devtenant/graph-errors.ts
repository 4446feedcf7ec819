// Errors of the Graph emulator in Microsoft Graph's shape, which the Graph client turns into a
// GraphError with `statusCode` and `code`:
//   {"error":{"code":"Request_ResourceNotFound","message":"…","innerError":{"date":"…","request-id":"…","client-request-id":"…"}}}

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError } from '../../shared/errors.js';
import { readBody, sendJson } from '../http/respond.js';
import { mediaType, MAX_REQUEST_BODY_BYTES } from './http-io.js';

export class GraphFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Retry-After on a 429. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const GraphFailures = {
  tokenMissing: () => new GraphFailure(401, 'InvalidAuthenticationToken', 'Access token is empty.'),
  tokenInvalid: (why: string) => new GraphFailure(401, 'InvalidAuthenticationToken', `Access token validation failure. ${why}`),
  insufficientPrivileges: (needed: readonly string[]) =>
    new GraphFailure(
      403,
      'Authorization_RequestDenied',
      `Insufficient privileges to complete the operation. The app needs one of these application permissions: ${needed.join(', ')}.`,
    ),
  notFound: (id: string) =>
    new GraphFailure(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`),
  badRequest: (message: string) => new GraphFailure(400, 'Request_BadRequest', message),
  unsupportedQuery: (message: string) => new GraphFailure(400, 'Request_UnsupportedQuery', message),
  unknownSegment: (segment: string) => new GraphFailure(400, 'BadRequest', `Resource not found for the segment '${segment}'.`),
  methodNotAllowed: (method: string) => new GraphFailure(405, 'Request_BadRequest', `Specified HTTP method '${method}' is not allowed for the request target.`),
  tooLarge: (message: string) => new GraphFailure(413, 'RequestEntityTooLarge', message),
  unavailable: () => new GraphFailure(503, 'serviceNotAvailable', 'The service is temporarily unavailable (simulated Graph outage of the dev tenant).'),
} as const;

export function sendGraphError(req: IncomingMessage, res: ServerResponse, failure: GraphFailure, now: number): void {
  const requestId = randomUUID();
  const header = req.headers['client-request-id'];
  const clientRequestId = typeof header === 'string' && header ? header : requestId;
  sendJson(
    res,
    failure.status,
    {
      error: {
        code: failure.code,
        message: failure.message,
        innerError: {
          date: new Date(now).toISOString().slice(0, 19),
          'request-id': requestId,
          'client-request-id': clientRequestId,
        },
      },
    },
    { ...failure.headers, 'request-id': requestId, 'client-request-id': clientRequestId },
  );
}

/**
 * Runs a Graph route's `respond`, answering a GraphFailure (and a body over the size limit) in
 * Graph's error shape; anything else is a bug and propagates.
 */
export async function withGraphErrors(req: IncomingMessage, res: ServerResponse, now: () => number, respond: () => Promise<void>): Promise<void> {
  try {
    await respond();
  } catch (error) {
    if (error instanceof GraphFailure) return sendGraphError(req, res, error, now());
    if (error instanceof AccessError && error.code === 'payload_too_large') return sendGraphError(req, res, GraphFailures.tooLarge(error.message), now());
    throw error;
  }
}

/** A Graph request's JSON body, refused in Graph's shape when it is not application/json or not JSON. */
export async function readGraphJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req, MAX_REQUEST_BODY_BYTES);
  if (mediaType(req) !== 'application/json') {
    throw GraphFailures.badRequest(`Send the body as application/json, not '${mediaType(req) || 'nothing'}'.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw GraphFailures.badRequest('The request body is not valid JSON.');
  }
}
