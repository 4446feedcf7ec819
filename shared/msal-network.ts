// MSAL's network module over our HttpTransport, so MSAL (unmodified) reaches the tenant through
// the same client as everything else: a private CA or the loopback dev tenant is configuration of
// the transport, not a patch of the library.

import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import type { HttpTransport } from './http-transport.js';

export function msalNetworkModule(transport: HttpTransport): INetworkModule {
  const send = async <T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> => {
    const res = await transport.request(url, {
      method,
      ...(options?.headers ? { headers: options.headers } : {}),
      ...(options?.body === undefined ? {} : { body: options.body }),
    });
    const text = res.body.toString('utf8');
    // MSAL expects a parsed JSON body; an empty or non-JSON body (a proxy's HTML error page)
    // becomes an empty object so MSAL reports the HTTP status instead of a parse failure.
    let body: unknown = {};
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = {};
      }
    }
    return { status: res.status, headers: res.headers, body: body as T };
  };
  return {
    sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('GET', url, options),
    sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('POST', url, options),
  };
}
