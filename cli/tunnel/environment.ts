// How a client reaches the local end of a tunnel, per resource kind: the environment handed to
// `access connect NAME -- CMD` (the variables each kind's usual client reads) and the one-line hint
// printed in listener mode. The resource's connection defaults (user, database) come from the
// broker's /v1/resources when it provides them.

export interface LocalAddress {
  /** The address a client dials: loopback when the listener is bound to every address. */
  host: string;
  port: number;
}

export interface ConnectionDefaults {
  user?: string | null | undefined;
  database?: string | null | undefined;
}

/** The address a local client dials for a listener bound to `bind` (loopback for "every address"). */
export function dialHost(bind: string): string {
  if (bind === '0.0.0.0') return '127.0.0.1';
  if (bind === '::' || bind === '[::]') return '::1';
  return bind.replace(/^\[(.*)\]$/, '$1');
}

/** "127.0.0.1:54321", "[::1]:54321". */
export function hostPort(address: LocalAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * The environment for CMD: `base` plus where the tunnel listens. Host and port always point at the
 * tunnel (a PGHOST left over from elsewhere must not send the client around it); the user and
 * database defaults only fill what the person has not set.
 */
export function connectionEnv(
  kind: string,
  address: LocalAddress,
  defaults: ConnectionDefaults,
  base: NodeJS.ProcessEnv,
  localTls: { caFile: string } | null = null,
): NodeJS.ProcessEnv {
  const port = String(address.port);
  const env: NodeJS.ProcessEnv = { ...base, ACCESS_HOST: address.host, ACCESS_PORT: port };
  const fill = (name: string, value: string | null | undefined): void => {
    if (value && !env[name]) env[name] = value;
  };
  switch (kind) {
    case 'postgres':
      env.PGHOST = address.host;
      env.PGPORT = port;
      fill('PGUSER', defaults.user);
      fill('PGDATABASE', defaults.database);
      // The certificate the client meets is the listener's own (local-tls.ts), so its CA is the
      // one verify-full must trust, whatever PGSSLROOTCERT said for other servers. PGSSLMODE stays the person's.
      if (localTls) env.PGSSLROOTCERT = localTls.caFile;
      break;
    case 'mysql':
      // The mysql and mariadb clients read these (a host, not "localhost", so they use TCP). They
      // read no variable for the user or database: those come in an option file (mysqlOptionFile).
      env.MYSQL_HOST = address.host;
      env.MYSQL_TCP_PORT = port;
      break;
    case 'http':
      // `access connect grafana -- sh -c 'curl "$ACCESS_URL"api/health'`
      env.ACCESS_URL = localUrl(address);
      break;
    case 'grpc':
      // A gRPC channel's target ("host:port", plaintext): `grpcurl -plaintext "$ACCESS_GRPC_TARGET" list`.
      env.ACCESS_GRPC_TARGET = hostPort(address);
      break;
    default:
      break;
  }
  return env;
}

/** "http://127.0.0.1:54321/": where a browser or curl reaches an http resource through the tunnel. */
export function localUrl(address: LocalAddress): string {
  return `http://${hostPort(address)}/`;
}

/**
 * The resource's user and database for the mysql and mariadb clients, as an option file to put at
 * `$MYSQL_HOME/my.cnf` (both read it, after /etc/my.cnf and before ~/.my.cnf, so the person's own
 * ~/.my.cnf and command-line options still win), and the local CA for clients that verify the
 * listener's certificate. Null when there is nothing to give, the kind is not
 * mysql, or MYSQL_HOME is set already (the person's own option directory is left alone).
 */
export function mysqlOptionFile(
  kind: string,
  defaults: ConnectionDefaults,
  base: NodeJS.ProcessEnv,
  localTls: { caFile: string } | null = null,
): string | null {
  if (kind !== 'mysql' || base.MYSQL_HOME || (!defaults.user && !defaults.database && !localTls)) return null;
  const lines = ['# Written by `access connect` for this command only.'];
  // [client] is read by every client program; `database` only by mysql/mariadb, which read [mysql].
  if (defaults.user || localTls) lines.push('[client]');
  if (defaults.user) lines.push(`user=${optionValue(defaults.user)}`);
  // The certificate a client meets is the listener's own (mysql-local-end.ts): its CA is what
  // --ssl-verify-server-cert must trust (the mariadb client then uses TLS, which the listener gives).
  if (localTls) lines.push(`ssl-ca=${optionValue(localTls.caFile)}`);
  if (defaults.database) lines.push('[mysql]', `database=${optionValue(defaults.database)}`);
  return `${lines.join('\n')}\n`;
}

/** An option file value, quoted, with the file's escapes for backslash, quote and line breaks (MySQL reads \\n, \\r). */
function optionValue(value: string): string {
  const escaped = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return `"${escaped}"`;
}

/** The listener's line about the TLS it offers: which file a client verifying the certificate trusts, and how it says so. */
export function localTlsHint(kind: string, caFile: string): string {
  const how =
    kind === 'mysql' ? `--ssl-verify-server-cert trust ${caFile} (--ssl-ca, or ssl: { ca } in a driver)` : `sslmode=verify-full trust ${caFile} (sslrootcert)`;
  return `Clients that require TLS get it here; for ${how}`;
}

/** A command line that connects through the tunnel with the kind's usual client. */
export function connectHint(kind: string, address: LocalAddress, defaults: ConnectionDefaults): string {
  const { host, port } = address;
  switch (kind) {
    case 'postgres':
      return ['psql', '-h', host, '-p', String(port), ...(defaults.user ? ['-U', defaults.user] : []), ...(defaults.database ? [defaults.database] : [])].join(
        ' ',
      );
    case 'mysql':
      return ['mysql', '-h', host, '-P', String(port), ...(defaults.user ? ['-u', defaults.user] : []), ...(defaults.database ? [defaults.database] : [])].join(
        ' ',
      );
    case 'ssh':
      return `ssh -p ${port} ${defaults.user ? `${defaults.user}@` : ''}${host}`;
    case 'http':
      return `curl ${localUrl(address)} (or open it in a browser)`;
    case 'grpc':
      return `grpcurl -plaintext ${hostPort(address)} list (a plaintext gRPC channel to ${hostPort(address)})`;
    default:
      return `nc ${host} ${port}`;
  }
}
