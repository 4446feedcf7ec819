// A small table-driven router: each route names its method, path pattern (`/v1/requests/:id`)
// and whether it needs a signed-in caller. Authentication happens here, once, before any handler.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError } from '../../shared/errors.js';
import type { Principal } from '../auth/principal.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export interface PublicRoute {
  method: Method;
  path: string;
  /** HTTP status of a successful answer. Default 200. */
  status?: number;
  auth: 'none';
  handle(ctx: RouteContext): Promise<unknown>;
}

export interface AuthenticatedRoute {
  method: Method;
  path: string;
  /** HTTP status of a successful answer (201 for a creation). Default 200. */
  status?: number;
  auth: 'required';
  handle(ctx: RouteContext, principal: Principal): Promise<unknown>;
}

export type Route = PublicRoute | AuthenticatedRoute;

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AccessError('bad_request', `"${segment}" is not a valid URL path segment`);
  }
}

function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith(':')) {
      if (!g) return null;
      params[w.slice(1)] = decodeSegment(g);
    } else if (w !== g) {
      return null;
    }
  }
  return params;
}

/** Finds the route for a request; a known path with another method is a 405, an unknown one a 404. */
export function findRoute(routes: readonly Route[], method: string, path: string): RouteMatch {
  let pathKnown = false;
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (!params) continue;
    pathKnown = true;
    if (route.method === method) return { route, params };
  }
  if (pathKnown) throw new AccessError('method_not_allowed', `${method} is not allowed on ${path}`);
  throw new AccessError('not_found', `no such endpoint: ${method} ${path}`);
}
