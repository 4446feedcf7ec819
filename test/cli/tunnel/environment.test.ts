import { describe, expect, it } from 'vitest';
import { connectHint, connectionEnv, dialHost, hostPort, localTlsHint, mysqlOptionFile } from '../../../cli/tunnel/environment.js';

const at = { host: '127.0.0.1', port: 54321 };

describe('connectionEnv', () => {
  it('points the postgres client at the tunnel and fills user and database from the resource', () => {
    const env = connectionEnv('postgres', at, { user: 'demo', database: 'demo' }, { PATH: '/bin', PGHOST: 'prod.internal', PGPORT: '5432' });
    expect(env).toEqual({
      PATH: '/bin',
      PGHOST: '127.0.0.1',
      PGPORT: '54321',
      PGUSER: 'demo',
      PGDATABASE: 'demo',
      ACCESS_HOST: '127.0.0.1',
      ACCESS_PORT: '54321',
    });
  });

  it('keeps a PGUSER or PGDATABASE the person has set', () => {
    const env = connectionEnv('postgres', at, { user: 'demo', database: 'demo' }, { PGUSER: 'alice', PGDATABASE: 'reports' });
    expect(env).toMatchObject({ PGUSER: 'alice', PGDATABASE: 'reports' });
  });

  it('sets no PGUSER or PGDATABASE when the broker gives no defaults', () => {
    const env = connectionEnv('postgres', at, {}, {});
    expect(env.PGUSER).toBeUndefined();
    expect(env.PGDATABASE).toBeUndefined();
  });

  it("trusts the listener's local CA for verify-full (PGSSLROOTCERT), over one set for other servers, and leaves PGSSLMODE to the person", () => {
    const env = connectionEnv(
      'postgres',
      at,
      {},
      { PGSSLROOTCERT: '/etc/ssl/prod-ca.pem', PGSSLMODE: 'verify-full' },
      { caFile: '/home/a/.config/access/local-tls/ca-1.crt' },
    );
    expect(env).toMatchObject({ PGSSLROOTCERT: '/home/a/.config/access/local-tls/ca-1.crt', PGSSLMODE: 'verify-full' });
    expect(connectionEnv('postgres', at, {}, {}, { caFile: '/x/ca.crt' }).PGSSLMODE).toBeUndefined();
  });

  it('gives mysql MYSQL_HOST and MYSQL_TCP_PORT, and every kind ACCESS_HOST and ACCESS_PORT', () => {
    expect(connectionEnv('mysql', at, {}, {})).toEqual({ MYSQL_HOST: '127.0.0.1', MYSQL_TCP_PORT: '54321', ACCESS_HOST: '127.0.0.1', ACCESS_PORT: '54321' });
    expect(connectionEnv('ssh', at, {}, {})).toEqual({ ACCESS_HOST: '127.0.0.1', ACCESS_PORT: '54321' });
    expect(connectionEnv('tcp', at, {}, {})).toEqual({ ACCESS_HOST: '127.0.0.1', ACCESS_PORT: '54321' });
  });

  it('gives http ACCESS_URL (ending in a slash) and grpc ACCESS_GRPC_TARGET, host:port of a plaintext channel', () => {
    expect(connectionEnv('http', at, {}, {})).toEqual({ ACCESS_URL: 'http://127.0.0.1:54321/', ACCESS_HOST: '127.0.0.1', ACCESS_PORT: '54321' });
    expect(connectionEnv('http', { host: '::1', port: 5 }, {}, {}).ACCESS_URL).toBe('http://[::1]:5/');
    expect(connectionEnv('grpc', at, {}, {})).toEqual({ ACCESS_GRPC_TARGET: '127.0.0.1:54321', ACCESS_HOST: '127.0.0.1', ACCESS_PORT: '54321' });
  });
});

describe('mysqlOptionFile', () => {
  it("gives the mysql client the resource's user ([client]) and database ([mysql]), quoted", () => {
    expect(mysqlOptionFile('mysql', { user: 'app', database: 'shop' }, {})).toBe(
      '# Written by `access connect` for this command only.\n[client]\nuser="app"\n[mysql]\ndatabase="shop"\n',
    );
    expect(mysqlOptionFile('mysql', { user: 'o"k\\x\ny' }, {})).toContain('user="o\\"k\\\\x\\ny"');
  });

  it('writes nothing without defaults, for other kinds, or when the person has a MYSQL_HOME of their own', () => {
    expect(mysqlOptionFile('mysql', {}, {})).toBeNull();
    expect(mysqlOptionFile('postgres', { user: 'app' }, {})).toBeNull();
    expect(mysqlOptionFile('mysql', { user: 'app' }, { MYSQL_HOME: '/etc/mine' })).toBeNull();
    expect(mysqlOptionFile('mysql', { user: 'app' }, { MYSQL_HOME: '/etc/mine' }, { caFile: '/s/ca.crt' })).toBeNull();
    expect(mysqlOptionFile('postgres', {}, {}, { caFile: '/s/ca.crt' })).toBeNull();
  });

  it("names the listener's local CA (ssl-ca, for --ssl-verify-server-cert), with or without defaults", () => {
    const ca = { caFile: '/home/a/.access/local-tls/ca-0123.crt' };
    expect(mysqlOptionFile('mysql', { user: 'app', database: 'shop' }, {}, ca)).toBe(
      '# Written by `access connect` for this command only.\n[client]\nuser="app"\nssl-ca="/home/a/.access/local-tls/ca-0123.crt"\n[mysql]\ndatabase="shop"\n',
    );
    expect(mysqlOptionFile('mysql', {}, {}, ca)).toBe(
      '# Written by `access connect` for this command only.\n[client]\nssl-ca="/home/a/.access/local-tls/ca-0123.crt"\n',
    );
  });
});

describe('localTlsHint', () => {
  it('tells each kind how its clients trust the local CA', () => {
    expect(localTlsHint('postgres', '/s/ca.crt')).toBe('Clients that require TLS get it here; for sslmode=verify-full trust /s/ca.crt (sslrootcert)');
    expect(localTlsHint('mysql', '/s/ca.crt')).toBe(
      'Clients that require TLS get it here; for --ssl-verify-server-cert trust /s/ca.crt (--ssl-ca, or ssl: { ca } in a driver)',
    );
  });
});

describe('connectHint', () => {
  it.each([
    ['postgres', { user: 'demo', database: 'demo' }, 'psql -h 127.0.0.1 -p 54321 -U demo demo'],
    ['postgres', {}, 'psql -h 127.0.0.1 -p 54321'],
    ['mysql', { user: 'app', database: 'shop' }, 'mysql -h 127.0.0.1 -P 54321 -u app shop'],
    ['ssh', {}, 'ssh -p 54321 127.0.0.1'],
    ['tcp', {}, 'nc 127.0.0.1 54321'],
    ['http', {}, 'curl http://127.0.0.1:54321/ (or open it in a browser)'],
    ['grpc', {}, 'grpcurl -plaintext 127.0.0.1:54321 list (a plaintext gRPC channel to 127.0.0.1:54321)'],
  ])('for %s with %j suggests `%s`', (kind, defaults, hint) => {
    expect(connectHint(kind, at, defaults)).toBe(hint);
  });
});

describe('addresses', () => {
  it('dials loopback for a listener bound to every address, and brackets IPv6 with a port', () => {
    expect(dialHost('0.0.0.0')).toBe('127.0.0.1');
    expect(dialHost('::')).toBe('::1');
    expect(dialHost('[::1]')).toBe('::1');
    expect(hostPort({ host: '::1', port: 5 })).toBe('[::1]:5');
    expect(hostPort(at)).toBe('127.0.0.1:54321');
  });
});
