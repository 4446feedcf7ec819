// The setup of `access connect` tests: a CLI whose REST calls answer from a script and whose
// tunnels go to a fake broker on a real socket, stopped when the test ends. Shared by the unit
// tests (connect.test.ts) and the ones that run a real CMD (test/e2e/connect-command.test.ts).

import { onTestFinished } from 'vitest';
import type { BrokerClient } from '../../../cli/broker-client.js';
import type { BrokerConnection } from '../../../cli/broker-connection.js';
import { BrokerTrust } from '../../../cli/broker-trust.js';
import type { RequestView, ResourceSummary } from '../../../shared/wire.js';
import { startFakeBroker, type FakeBroker, type FakeBrokerOptions } from '../tunnel/fake-broker.js';
import { approvedView, FakeClient, FakeEvents, harness, type Harness } from './fakes.js';

export const demoDb: ResourceSummary = {
  name: 'demo-db',
  kind: 'postgres',
  description: null,
  canRequest: true,
  canApprove: false,
  autoApproved: false,
  approvers: ['sg-dba'],
  approvals: 1,
  maxDurationMs: 4 * 3_600_000,
  defaultDurationMs: 3_600_000,
  reason: 'required',
  ticketPattern: null,
  conditions: [],
  user: 'demo',
  database: 'demo',
};

/** alice's live grant on demo-db. */
export const grant = approvedView({ resource: 'demo-db' });

export interface Setup {
  h: Harness;
  broker: FakeBroker;
  events: FakeEvents;
  client: FakeClient;
  log: string[];
}

/** A CLI whose REST calls answer from `routes` and whose tunnels go to a fake broker on a real socket. */
export async function setup(
  options: { grants?: RequestView[]; resources?: ResourceSummary[]; broker?: FakeBrokerOptions; routes?: ConstructorParameters<typeof FakeClient>[0] } = {},
): Promise<Setup> {
  const b = await startFakeBroker(options.broker);
  onTestFinished(() => b.stop());
  const log: string[] = [];
  const client = new FakeClient(
    {
      'GET /v1/requests?state=approved': () => ({ requests: options.grants ?? [grant] }),
      'GET /v1/resources': () => ({ resources: options.resources ?? [demoDb] }),
      ...options.routes,
    },
    log,
  );
  const events = new FakeEvents();
  const connection: BrokerConnection = {
    brokerUrl: b.url,
    session: {} as BrokerConnection['session'],
    trust: BrokerTrust.publicRoots(),
    client: client as unknown as BrokerClient,
    openEvents: async () => {
      log.push('events');
      return events;
    },
    openTunnel: (resource) => b.open(resource),
  };
  return { h: harness({ connection }), broker: b, events, client, log };
}
