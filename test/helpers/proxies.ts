// Real nginx and HAProxy (Debian's /usr/sbin binaries) in front of a test upstream, or HAProxy in
// front of three brokers, each started from the repo's own copy-paste config (deploy/nginx,
// deploy/haproxy) with only the names of the setup replaced: the broker's URL, the resource, the
// app's or brokers' addresses, the certificate and the listening port. Each runs in
// the foreground with its pid, logs and temporary files in a directory of its own, and is killed by
// `stop`.

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { REPO, freePort, tempDir } from './processes.js';
import { programMissing } from './programs.js';

export const NGINX_BIN = process.env.NGINX ?? '/usr/sbin/nginx';
export const HAPROXY_BIN = process.env.HAPROXY ?? '/usr/sbin/haproxy';

/** Why the nginx tests cannot run here, or null when they can. */
export function nginxMissing(): string | null {
  return programMissing(NGINX_BIN, 'nginx');
}

/** Why the HAProxy tests cannot run here, or null when they can. */
export function haproxyMissing(): string | null {
  return programMissing(HAPROXY_BIN, 'haproxy');
}
const NGINX_SITE = path.join(REPO, 'deploy/nginx/access-forward-auth.conf');
const HAPROXY_CFG = path.join(REPO, 'deploy/haproxy/haproxy.cfg');
const HAPROXY_LUA = path.join(REPO, 'deploy/haproxy/access-auth.lua');
const BROKERS_CFG = path.join(REPO, 'deploy/haproxy/access-brokers.cfg');
/** The brokers deploy/haproxy/access-brokers.cfg names, in its order. */
const BROKERS_IN_CFG = ['broker1 10.0.5.11:4780', 'broker2 10.0.5.12:4780', 'broker3 10.0.5.13:4780'] as const;
/** How long a proxy may take to accept connections on a loaded machine. */
const START_DEADLINE_MS = 20_000;

export interface Setup {
  /** The broker's base URL, e.g. http://127.0.0.1:41234. */
  broker: string;
  resource: string;
  upstreamPort: number;
}

export interface RunningProxy {
  name: 'nginx' | 'haproxy';
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

/** Replaces `from` in `text`, failing loudly when the deploy file no longer has it. */
function replace(text: string, from: string, to: string, file: string): string {
  if (!text.includes(from)) throw new Error(`${file} no longer contains ${JSON.stringify(from)}: update test/helpers/proxies.ts`);
  return text.split(from).join(to);
}

export async function startNginx(setup: Setup): Promise<RunningProxy> {
  const dir = await tempDir('nginx');
  const port = await freePort();
  let site = await readFile(NGINX_SITE, 'utf8');
  site = replace(site, 'listen 80;', `listen 127.0.0.1:${port};`, NGINX_SITE);
  site = replace(site, 'https://access.example.com', setup.broker, NGINX_SITE);
  site = replace(site, 'resource=grafana', `resource=${setup.resource}`, NGINX_SITE);
  site = replace(site, 'http://app.internal:8080', `http://127.0.0.1:${setup.upstreamPort}`, NGINX_SITE);
  const conf = [
    // One process, in the foreground, as the test's own user: nothing here needs a worker's privilege drop.
    'daemon off;',
    'master_process off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log info;`,
    'events { worker_connections 64; }',
    'http {',
    `  access_log ${dir}/access.log;`,
    `  client_body_temp_path ${dir}/client_body;`,
    `  proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi;`,
    `  uwsgi_temp_path ${dir}/uwsgi;`,
    `  scgi_temp_path ${dir}/scgi;`,
    site,
    '}',
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(NGINX_BIN, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return started('nginx', child, port, () => readFile(path.join(dir, 'error.log'), 'utf8').catch(() => ''));
}

export function startHaproxy(setup: Setup): Promise<RunningProxy> {
  return startHaproxyWithConfig(async (port, dir) => {
    await copyFile(HAPROXY_LUA, path.join(dir, 'access-auth.lua'));
    let cfg = await readFile(HAPROXY_CFG, 'utf8');
    cfg = replace(cfg, 'lua-load /etc/haproxy/access-auth.lua', `lua-load ${dir}/access-auth.lua`, HAPROXY_CFG);
    cfg = replace(cfg, 'bind :8080', `bind 127.0.0.1:${port}`, HAPROXY_CFG);
    cfg = replace(cfg, 'https://access.example.com grafana', `${setup.broker} ${setup.resource}`, HAPROXY_CFG);
    return replace(cfg, 'server app1 app.internal:8080', `server app1 127.0.0.1:${setup.upstreamPort}`, HAPROXY_CFG);
  });
}

/**
 * HAProxy from deploy/haproxy/access-brokers.cfg in front of three brokers: TLS with `pem` (the
 * certificate, then its key), the brokers at `brokers` (host:port, named broker1..3 in its log and
 * its X-Access-Broker header).
 */
export function startBrokerBalancer(brokers: readonly [string, string, string], pem: string): Promise<RunningProxy> {
  return startHaproxyWithConfig(async (port, dir) => {
    await writeFile(path.join(dir, 'edge.pem'), pem, { mode: 0o600 });
    let cfg = await readFile(BROKERS_CFG, 'utf8');
    cfg = replace(cfg, 'bind :443 ssl crt /etc/haproxy/access.pem', `bind 127.0.0.1:${port} ssl crt ${dir}/edge.pem`, BROKERS_CFG);
    BROKERS_IN_CFG.forEach((server, i) => {
      cfg = replace(cfg, `server ${server}`, `server broker${i + 1} ${brokers[i]}`, BROKERS_CFG);
    });
    return cfg;
  }, 'https');
}

async function started(
  name: RunningProxy['name'],
  child: ChildProcess,
  port: number,
  log: () => Promise<string>,
  scheme: 'http' | 'https' = 'http',
): Promise<RunningProxy> {
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before it listened:\n${out}`)));
    child.once('error', (error) => reject(new Error(`${name} could not start: ${error.message}`)));
  });
  exited.catch(() => {});
  const url = `${scheme}://127.0.0.1:${port}`;
  await Promise.race([exited, listening(port, name)]);
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  let logged = '';
  void log().then((text) => (logged = text));
  return { name, url, output: () => `${out}\n${logged}`, stop };
}

/** Resolves once something accepts connections on `port` (no request: it would be a forward-auth decision). */
async function listening(port: number, name: string): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${START_DEADLINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What the upstream saw of one request: its path and every header the proxy sent. */
export interface SeenRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface Upstream {
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** The app behind the proxy: answers every request with what it received, as JSON. */
export async function startUpstream(): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const request = { path: req.url ?? '/', headers: req.headers };
    seen.push(request);
    const body = JSON.stringify(request);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * HAProxy with a configuration of the test's own (`config` gets the port to bind on 127.0.0.1 and
 * the directory HAProxy runs in, for files it names), run like the others: in the foreground, in a
 * directory of its own, killed by `stop`. `scheme`: what the port serves.
 */
export async function startHaproxyWithConfig(
  config: (port: number, dir: string) => string | Promise<string>,
  scheme: 'http' | 'https' = 'http',
): Promise<RunningProxy> {
  const dir = await tempDir('haproxy');
  const port = await freePort();
  await writeFile(path.join(dir, 'haproxy.cfg'), await config(port, dir));
  // -db: foreground, no daemon; -W off: one process.
  const child = spawn(HAPROXY_BIN, ['-db', '-f', path.join(dir, 'haproxy.cfg'), '-p', path.join(dir, 'haproxy.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return started('haproxy', child, port, async () => '', scheme);
}
