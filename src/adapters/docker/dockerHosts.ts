import path from 'node:path';
import type { AddressFrom } from './containerAddress.js';
import { checkHost } from '../../domain/values.js';
import { parseDockerHost, type DockerEndpoint } from './dockerHost.js';

/** How a tcp:// engine is spoken to: TLS checking its certificate (`--tlsverify`), TLS without checking it (`--tls`), or plain HTTP. */
export type TlsMode = 'verify' | 'noverify' | 'off';


/** One Docker engine discovery follows (an entry of DOCKER_HOSTS, or DOCKER_HOST). */
export interface EngineSpec {
  /** For logs, `/discovery` and server identities (`<name>/<container id>`). */
  name: string;
  /** The endpoint as written, without options: shown in logs and `/discovery` (it holds no secret). */
  url: string;
  endpoint: DockerEndpoint;
  tls: TlsMode;
  /** Directory holding ca.pem, cert.pem and key.pem (DOCKER_CERT_PATH's layout); set when tls is not off. */
  certPath?: string;
  /** The engine's host address: its published ports and host-network containers are reached there. */
  address: string;
  addressFrom: AddressFrom;
  /** A network of this engine whose container IPs the proxy can reach (overrides DOCKER_NETWORK). */
  network?: string;
}

/** The environment's TLS defaults, as the docker CLI reads them. */
export interface TlsDefaults {
  /** DOCKER_TLS_VERIFY */
  verify: boolean;
  /** DOCKER_TLS */
  tls: boolean;
  /** DOCKER_CERT_PATH, else ~/.docker */
  certPath: string;
}

export interface EngineList {
  engines: EngineSpec[];
  /** Entries that were skipped, each naming DOCKER_HOSTS, the entry and what is wrong with it. */
  problems: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const NETWORK = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const CERT_PATH = /^\/[A-Za-z0-9_./@+-]*$/;
const OPTIONS = ['tls', 'certs', 'address', 'network'];
/** The proxy's own host: published ports and host-network containers of a local engine are on 127.0.0.1. */
export const LOCAL_ADDRESS = '127.0.0.1';

/**
 * Parses DOCKER_HOSTS: a comma list of `[name=]unix:///path[?options]` and
 * `[name=]tcp://host:port[?options]`, options `tls=verify|noverify|off`,
 * `certs=/dir`, `address=host` and `network=name` joined by `&`. A bad entry
 * is a problem and is skipped; the caller decides whether what is left is
 * enough. Pure: the certificate files are read when the engine is dialled.
 */
export function parseDockerHosts(value: string, defaults: TlsDefaults): EngineList {
  const engines: EngineSpec[] = [];
  const problems: string[] = [];
  const items = value.split(',').map((i) => i.trim()).filter((i) => i !== '');
  for (const item of items) {
    const parsed = parseEntry(item, defaults);
    if (typeof parsed === 'string') {
      problems.push(`DOCKER_HOSTS entry "${shorten(item)}" ${parsed}; it is skipped`);
      continue;
    }
    const sameName = engines.find((e) => e.name === parsed.spec.name);
    if (sameName && parsed.named) {
      problems.push(`DOCKER_HOSTS entry "${shorten(item)}" uses the name "${parsed.spec.name}" of an earlier entry; it is skipped`);
      continue;
    }
    const sameUrl = engines.find((e) => JSON.stringify(e.endpoint) === JSON.stringify(parsed.spec.endpoint));
    if (sameUrl) {
      problems.push(`DOCKER_HOSTS entry "${shorten(item)}" is the engine "${sameUrl.name}" again; it is skipped`);
      continue;
    }
    let spec = parsed.spec;
    // An unnamed entry takes its host as its name; a second one on the same host gets a number.
    for (let n = 2; engines.some((e) => e.name === spec.name); n++) spec = { ...parsed.spec, name: `${parsed.spec.name}-${n}` };
    engines.push(spec);
  }
  return { engines, problems };
}

/**
 * DOCKER_HOST, the single-engine form: the proxy's own engine, even when it
 * is reached over TCP (a socket proxy), so its published ports and host
 * network are on 127.0.0.1 as before. Undefined when the value is not an endpoint.
 */
export function singleDockerHost(value: string, defaults: TlsDefaults): EngineSpec | undefined {
  const endpoint = parseDockerHost(value);
  if (!endpoint) return undefined;
  const tls = 'socketPath' in endpoint ? 'off' : defaultTls(defaults);
  return { name: 'local', url: value, endpoint, tls, ...(tls !== 'off' && { certPath: defaults.certPath }), address: LOCAL_ADDRESS, addressFrom: 'local' };
}

/** The TLS defaults from DOCKER_TLS_VERIFY, DOCKER_TLS and DOCKER_CERT_PATH (else `$HOME/.docker`, as the docker CLI does). */
export function tlsDefaults(env: { verify?: boolean; tls?: boolean; certPath?: string; home?: string }): TlsDefaults {
  return { verify: env.verify ?? false, tls: env.tls ?? false, certPath: env.certPath ?? path.join(env.home ?? '/root', '.docker') };
}

/** True when the address is this machine (a local engine's containers may be reached at any of their addresses). */
export function isLoopback(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) || bare === '::1' || bare === 'localhost';
}

function defaultTls(defaults: TlsDefaults): TlsMode {
  return defaults.verify ? 'verify' : defaults.tls ? 'noverify' : 'off';
}

function parseEntry(item: string, defaults: TlsDefaults): { spec: EngineSpec; named: boolean } | string {
  const named = /^([^=:/?]+)=(.*)$/.exec(item);
  const name = named?.[1];
  const rest = named ? (named[2] as string) : item;
  if (name !== undefined && !NAME.test(name)) return `has the name "${shorten(name)}", which must start with a letter or digit and hold only letters, digits, ".", "_" and "-" (at most 63)`;
  const question = rest.indexOf('?');
  const url = question < 0 ? rest : rest.slice(0, question);
  const endpoint = parseDockerHost(url);
  if (!endpoint) return 'is not unix:///path/to/docker.sock or tcp://host:port (optionally name=... in front and ?options after)';
  const options = new Map<string, string>();
  if (question >= 0) {
    for (const pair of rest.slice(question + 1).split('&').filter((p) => p !== '')) {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const val = eq < 0 ? '' : pair.slice(eq + 1);
      if (!OPTIONS.includes(key)) return `has the option "${shorten(key)}", which is not one of ${OPTIONS.join(', ')}`;
      if (options.has(key)) return `gives the option "${key}" twice`;
      options.set(key, val);
    }
  }
  const unix = 'socketPath' in endpoint;
  const tlsOption = options.get('tls');
  const certs = options.get('certs');
  if (unix && (tlsOption !== undefined || certs !== undefined)) return 'has TLS options, which are only for tcp:// engines (a unix socket is not encrypted)';
  if (tlsOption !== undefined && !['verify', 'noverify', 'off'].includes(tlsOption)) return `has tls="${shorten(tlsOption)}", which must be verify, noverify or off`;
  if (certs !== undefined && !CERT_PATH.test(certs)) return `has certs="${shorten(certs)}", which must be an absolute directory path`;
  const tls: TlsMode = unix ? 'off' : ((tlsOption as TlsMode | undefined) ?? (certs !== undefined ? 'verify' : defaultTls(defaults)));
  if (tls === 'off' && certs !== undefined) return 'has certs= with tls=off';
  const address = options.get('address')?.replace(/^\[(.*)\]$/, '$1');
  if (address !== undefined && (address === '' || checkHost(address.toLowerCase()) !== undefined)) return `has address="${shorten(address)}", which is not a host name or IP address`;
  const network = options.get('network');
  if (network !== undefined && !NETWORK.test(network)) return `has network="${shorten(network)}", which is not a Docker network name`;
  const host = unix ? undefined : endpoint.host;
  if (host !== undefined && address === undefined && checkHost(host.toLowerCase()) !== undefined) return `has the host "${shorten(host)}", which is not a host name or IP address`;
  const spec: EngineSpec = {
    name: name ?? host ?? 'local',
    url,
    endpoint,
    tls,
    ...(tls !== 'off' && { certPath: certs ?? defaults.certPath }),
    address: address ?? host ?? LOCAL_ADDRESS,
    addressFrom: address !== undefined ? 'address' : host !== undefined ? 'tcp host' : 'local',
    ...(network !== undefined && { network }),
  };
  return { spec, named: name !== undefined };
}

function shorten(value: string): string {
  const visible = value.replace(/[\u0000-\u001f\u007f]/g, '?');
  return visible.length > 120 ? `${visible.slice(0, 120)}…` : visible;
}

/** The engines discovery follows, from DOCKER_HOSTS (several) or DOCKER_HOST (one). */
export interface DockerEngines {
  engines: EngineSpec[];
  /** DOCKER_HOSTS is set: identities carry the engine name. */
  multiple: boolean;
  /** Reported at start; what they name is skipped. */
  problems: string[];
  /** Set when nothing usable is left: a start-up error for this variable. */
  error?: { variable: 'DOCKER_HOSTS' | 'DOCKER_HOST'; value: string; problem: string };
}

/**
 * DOCKER_HOSTS when it is set (DOCKER_HOST is then ignored, with a warning),
 * else DOCKER_HOST, else the default socket. Bad entries are skipped unless
 * none is left.
 */
export function dockerEngines(input: { hosts?: string; host?: string; fallback: string; tls: TlsDefaults }): DockerEngines {
  if (input.hosts === undefined) {
    const value = input.host ?? input.fallback;
    const spec = singleDockerHost(value, input.tls);
    if (!spec) return { engines: [], multiple: false, problems: [], error: { variable: 'DOCKER_HOST', value, problem: 'must be unix:///path/to/docker.sock or tcp://host:port' } };
    return { engines: [spec], multiple: false, problems: [] };
  }
  const list = parseDockerHosts(input.hosts, input.tls);
  const problems = [...list.problems];
  if (input.host !== undefined) problems.push(`DOCKER_HOST "${shorten(input.host)}" is ignored because DOCKER_HOSTS is set (list that engine in DOCKER_HOSTS)`);
  if (list.engines.length === 0) {
    const problem = list.problems.length > 0 ? `has no usable engine: ${list.problems.join('; ')}` : 'lists no engine';
    return { engines: [], multiple: true, problems, error: { variable: 'DOCKER_HOSTS', value: input.hosts, problem } };
  }
  return { engines: list.engines, multiple: true, problems };
}
