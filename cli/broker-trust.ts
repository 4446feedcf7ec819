// Which certificates the CLI accepts from the broker: Node's bundled public roots, plus a private
// CA named with `access login --ca FILE` (remembered in config.json for that broker) or
// ACCESS_CA_FILE (this run only; it overrides the remembered one). One BrokerTrust serves every
// connection to the broker — REST calls, the events stream, tunnels — so they all trust the same
// certificates and explain a refused one in the same words. There is deliberately no switch that
// turns certificate verification off.

import path from 'node:path';
import { AccessError } from '../shared/errors.js';
import { HttpTransport } from '../shared/http-transport.js';
import { certificateProblem, readCertificates, tlsErrorText, withBundledRoots, type PemFileRole } from '../shared/tls.js';
import { resolveClientCertificate, type ClientCertificate } from './client-certificate.js';
import type { CliSettings } from './settings.js';

/** Where the private CA came from: `--ca`, ACCESS_CA_FILE, or remembered at login. */
export type CaSource = 'flag' | 'env' | 'remembered';

const SOURCE_WORDS: Record<CaSource, string> = {
  flag: 'given with --ca',
  env: 'from ACCESS_CA_FILE',
  remembered: 'remembered from `access login --ca`',
};

function roleOf(source: CaSource): PemFileRole {
  if (source === 'flag') return { what: 'the --ca file', code: 'usage' };
  if (source === 'env') return { what: 'the ACCESS_CA_FILE file', code: 'usage', hint: 'check the path, or unset ACCESS_CA_FILE' };
  return {
    what: 'the CA file remembered at login',
    code: 'config_invalid',
    hint: "run `access login --ca FILE` again with the CA certificate's current path",
  };
}

export class BrokerTrust {
  /** The private CA file, or null when only the public roots are trusted. */
  readonly caFile: string | null;
  readonly source: CaSource | null;
  /** The private CA's PEM certificates (empty without one). */
  readonly extraCa: readonly string[];
  /** The public roots plus the private CA, for a TLS `ca` option; undefined without a private CA. */
  readonly #ca: string[] | undefined;
  /** The client certificate presented to the broker (mutual TLS), and the broker's origin it is for; null: none. */
  readonly clientCertificate: (ClientCertificate & { origin: string }) | null;

  private constructor(caFile: string | null, source: CaSource | null, extraCa: readonly string[], clientCertificate: BrokerTrust['clientCertificate'] = null) {
    this.caFile = caFile;
    this.source = source;
    this.extraCa = extraCa;
    this.#ca = extraCa.length ? withBundledRoots(extraCa) : undefined;
    this.clientCertificate = clientCertificate;
  }

  /** The same trust, presenting `certificate` to the broker at `brokerUrl` (mutual TLS). */
  withClientCertificate(certificate: ClientCertificate, brokerUrl: string): BrokerTrust {
    return new BrokerTrust(this.caFile, this.source, this.extraCa, { ...certificate, origin: new URL(brokerUrl).origin });
  }

  /** The public roots only. */
  static publicRoots(): BrokerTrust {
    return new BrokerTrust(null, null, []);
  }

  /** Trusts the PEM certificate(s) in `file` on top of the public roots; refuses a file without one. */
  static async fromFile(file: string, source: CaSource): Promise<BrokerTrust> {
    const certificates = await readCertificates(file, roleOf(source));
    return new BrokerTrust(
      file,
      source,
      certificates.map((c) => c.pem),
    );
  }

  /**
   * Options for every TLS connection to the broker that is not a REST call (`ws` WebSockets,
   * `tls.connect`): spread them into the options. `ca` is the public roots plus the private CA,
   * absent without one (Node's defaults then apply).
   */
  tlsOptions(): { ca?: string[]; cert?: string; key?: string } {
    const client = this.clientCertificate ? { cert: this.clientCertificate.cert, key: this.clientCertificate.key } : {};
    return { ...(this.#ca ? { ca: this.#ca } : {}), ...client };
  }

  /** The HTTP client for the broker's REST API. */
  transport(): HttpTransport {
    const { clientCertificate } = this;
    return new HttpTransport({
      extraCa: this.extraCa,
      ...(clientCertificate ? { clientCertificate: { origin: clientCertificate.origin, cert: clientCertificate.cert, key: clientCertificate.key } } : {}),
    });
  }

  /**
   * The error to show when connecting to the broker at `url` (http(s) or ws(s)) failed with
   * `error`, when that failure is about TLS; null otherwise (the caller reports it as usual).
   */
  explain(error: unknown, url: string): AccessError | null {
    const target = new URL(url);
    target.protocol = target.protocol === 'wss:' ? 'https:' : target.protocol === 'ws:' ? 'http:' : target.protocol;
    const broker = target.origin;
    const problem = certificateProblem(error);
    const cause = { cause: error };
    if (problem === 'untrusted') {
      const refused = `the broker at ${broker} presented a TLS certificate this CLI does not trust (${tlsErrorText(error)})`;
      if (this.caFile && this.source) {
        return new AccessError(
          'broker_unreachable',
          `${refused}, not even with the CA in "${this.caFile}" (${SOURCE_WORDS[this.source]}) — check that this is the CA that issued the broker's certificate`,
          cause,
        );
      }
      return new AccessError(
        'broker_unreachable',
        `${refused} — if a private CA issued it, give the CLI that CA's certificate (PEM): \`access login --broker ${broker} --ca FILE\`, or set ACCESS_CA_FILE=FILE`,
        cause,
      );
    }
    if (problem === 'name') {
      return new AccessError(
        'broker_unreachable',
        `the broker's TLS certificate is not valid for ${target.host} (${tlsErrorText(error)}) — use the broker URL with a name its certificate covers`,
        cause,
      );
    }
    if (problem === 'dates') {
      return new AccessError(
        'broker_unreachable',
        `the broker at ${broker} presented a TLS certificate that is expired or not yet valid (${tlsErrorText(error)}) — its operator must renew it (or check this machine's clock)`,
        cause,
      );
    }
    // An https URL for a broker that serves plain HTTP: OpenSSL sees an HTTP reply where a TLS record should be.
    if (target.protocol === 'https:' && (error as NodeJS.ErrnoException | null)?.code === 'EPROTO') {
      return new AccessError(
        'broker_unreachable',
        `the broker at ${broker} does not speak TLS (${tlsErrorText(error)}) — if it serves plain HTTP, use http://${target.host}`,
        cause,
      );
    }
    return null;
  }
}

/** `--ca` beats ACCESS_CA_FILE beats the CA remembered at login for this broker. Relative paths are from the working directory. */
export async function resolveBrokerTrust(options: {
  caFlag?: string | undefined;
  /** `--cert`/`--key` (mutual TLS, cli/client-certificate.ts). */
  certFlag?: string | undefined;
  keyFlag?: string | undefined;
  env: NodeJS.ProcessEnv;
  settings: CliSettings;
  brokerUrl: string;
}): Promise<BrokerTrust> {
  const trust = await resolveCa(options);
  const client = await resolveClientCertificate(options);
  return client ? trust.withClientCertificate(client, options.brokerUrl) : trust;
}

async function resolveCa(options: { caFlag?: string | undefined; env: NodeJS.ProcessEnv; settings: CliSettings; brokerUrl: string }): Promise<BrokerTrust> {
  if (options.caFlag) return BrokerTrust.fromFile(path.resolve(options.caFlag), 'flag');
  const fromEnv = options.env.ACCESS_CA_FILE;
  if (fromEnv) return BrokerTrust.fromFile(path.resolve(fromEnv), 'env');
  const remembered = rememberedCaFile(options.settings, options.brokerUrl);
  if (remembered) return BrokerTrust.fromFile(remembered, 'remembered');
  return BrokerTrust.publicRoots();
}

/** The CA file remembered for `brokerUrl`: a CA trusted for one broker is not trusted for another. */
export function rememberedCaFile(settings: CliSettings, brokerUrl: string): string | undefined {
  return settings.broker === brokerUrl ? settings.caFile : undefined;
}

/** What `access login` remembers: a new `--ca`, else the CA already remembered for this broker (ACCESS_CA_FILE is never written). */
export function caFileToRemember(trust: BrokerTrust, settings: CliSettings, brokerUrl: string): string | undefined {
  if (trust.source === 'flag' && trust.caFile) return trust.caFile;
  return rememberedCaFile(settings, brokerUrl);
}
