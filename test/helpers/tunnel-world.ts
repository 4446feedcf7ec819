// Everything one tunnel test file needs, started in its beforeAll and stopped in its afterAll: the
// loopback targets (echo, blob, optionally sshd), one `access-broker dev` (plain or TLS) with
// test/fixtures/tunnel.yaml filled in for them, and the people of the file, signed in once.

import path from 'node:path';
import { freePort, startDevBrokerProcess, tempDir, type DevBrokerProcess } from './processes.js';
import { startSshd, type Sshd } from './sshd.js';
import { startTlsDevBrokerProcess } from './tls-broker.js';
import { BrokerApi, DirectoryAdmin, signIn, writeTunnelConfig, type Person } from './tunnel-broker.js';
import { startBlobServer, startEchoServer, type BlobServer, type LoopbackServer } from './tunnel-targets.js';

/** The dev users of the fixture, by first name. */
export type PersonName = 'alice' | 'carol' | 'erin' | 'bob' | 'dave' | 'olive';

export interface TunnelWorldOptions {
  people: readonly PersonName[];
  /** Start the test's sshd for the ssh-test resource. Default: false (ssh-test points at a closed port). */
  sshd?: boolean;
  /** Bytes each way of a blob exchange. Default: 1 MiB. */
  blobBytes?: number;
  /** Serve HTTPS/WSS with a throwaway CA the people's CLIs are told to trust. Default: false. */
  tls?: boolean;
}

export interface TunnelWorld {
  broker: DevBrokerProcess;
  dataDir: string;
  api: BrokerApi;
  /** Changes group membership through Graph (a plain-HTTP broker only: it does not trust a test CA). */
  directory: DirectoryAdmin;
  people: Record<PersonName, Person>;
  echo: LoopbackServer;
  blob: BlobServer;
  /** The running sshd, or why none could start. */
  sshd: Sshd | { unavailable: string };
  /** The port nothing listens on (the `down` resource's target). */
  closedPort: number;
  stop(): Promise<void>;
}

/** The seed of the blob server's byte stream. */
export const BLOB_SEED = 'access tunnel e2e: broker to client';

export async function startTunnelWorld(options: TunnelWorldOptions): Promise<TunnelWorld> {
  // What has started so far, stopped in reverse order; also when a later step fails, so a failed
  // start leaves no sshd or broker behind.
  const started: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of started.reverse()) await stop();
  };
  try {
    const dir = await tempDir('tunnel');
    const dataDir = path.join(dir, 'data');
    const echo = await startEchoServer();
    started.push(() => echo.close());
    const blob = await startBlobServer(options.blobBytes ?? 1024 * 1024, BLOB_SEED);
    started.push(() => blob.close());
    const closedPort = await freePort();
    const sshd = options.sshd ? await startSshd(await tempDir('sshd'), await freePort()) : { unavailable: 'not started for this file' };
    if ('stop' in sshd) started.push(() => sshd.stop());
    const config = await writeTunnelConfig(dir, {
      ECHO_PORT: echo.port,
      BLOB_PORT: blob.port,
      SSHD_PORT: 'port' in sshd ? sshd.port : closedPort,
      CLOSED_PORT: closedPort,
    });
    const args = ['--data', dataDir, '--config', config];
    const tls = options.tls ? await startTlsDevBrokerProcess(args) : null;
    const broker = tls ? tls.broker : await startDevBrokerProcess(args);
    started.push(() => broker.stop());
    const people = {} as Record<PersonName, Person>;
    await Promise.all(
      options.people.map(async (name) => {
        people[name] = await signIn(broker.url, `${name}@contoso.dev`, await tempDir(name), tls?.loginOptions);
      }),
    );
    return {
      broker,
      dataDir,
      api: new BrokerApi(broker.url, tls ? [tls.ca.cert] : []),
      directory: new DirectoryAdmin(broker.url, dataDir),
      people,
      echo,
      blob,
      sshd,
      closedPort,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
