import { describe, expect, it } from 'vitest';
import { findRoute, type Route } from '../../../broker/http/router.js';

const routes: Route[] = [
  { method: 'GET', path: '/v1/config', auth: 'none', handle: async () => ({}) },
  { method: 'GET', path: '/v1/requests/:id', auth: 'required', handle: async () => ({}) },
];

describe('findRoute', () => {
  it('matches a path with a parameter and decodes it', () => {
    const match = findRoute(routes, 'GET', '/v1/requests/a%20b');
    expect(match.params).toEqual({ id: 'a b' });
  });

  it('answers 405 for a known path with another method', () => {
    expect(() => findRoute(routes, 'POST', '/v1/config')).toThrow(expect.objectContaining({ code: 'method_not_allowed' }));
  });

  it('answers 404 naming the unknown endpoint', () => {
    expect(() => findRoute(routes, 'GET', '/v1/nope')).toThrow(/GET \/v1\/nope/);
  });

  it('refuses a malformed escape in a parameter as a bad request', () => {
    expect(() => findRoute(routes, 'GET', '/v1/requests/%E0%A4%A')).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

  it('does not match an empty parameter', () => {
    expect(() => findRoute(routes, 'GET', '/v1/requests/')).toThrow(expect.objectContaining({ code: 'not_found' }));
  });
});
