import { describeIssues } from '../domain/errors.js';
import { fromLabels, type RawResult } from '../domain/params.js';
import type { ParseContext } from '../domain/parse.js';
import type { Entry } from '../domain/registry.js';
import type { ServerAddr, ServiceSpec } from '../domain/spec.js';
import { toEntry } from '../domain/entry.js';

/**
 * What discovery needs to know about a container, cut down at the edge from
 * the Docker API so that the mapping below stays pure and easy to table-test.
 */
export interface DockerContainer {
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Docker's state: running, paused, restarting, exited, ... */
  state: string;
  /** `none` when the container has no health check. */
  health: 'none' | 'starting' | 'healthy' | 'unhealthy';
  /** host, none, bridge, container:<id> or a network name. */
  networkMode: string;
  networks: ReadonlyArray<{ name: string; ip: string }>;
  ports: ReadonlyArray<{ privatePort: number; publicPort?: number; ip?: string; type: string }>;
  /** Seconds since the epoch: the newest container of a service defines it. */
  created: number;
}

/** A swarm service, cut down the same way. */
export interface DockerSwarmService {
  id: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  mode: 'replicated' | 'global';
  /** Desired replicas of a replicated service. */
  replicas?: number;
  /** Its tasks run on the host's network (so the proxy reaches them on 127.0.0.1). */
  hostNetwork: boolean;
}

/** Everything that carries the notify label, as read in one sync. */
export interface DockerState {
  containers: readonly DockerContainer[];
  services: readonly DockerSwarmService[];
}

export interface Skipped {
  /** Container or swarm service name. */
  name: string;
  kind: 'container' | 'service';
  reason: string;
}

export interface DockerSyncOptions {
  /** DF_NOTIFY_LABEL: only what carries `<label>=true` counts. */
  notifyLabel: string;
  /** DOCKER_NETWORK: the network the proxy shares with containers (overridden by `com.df.network`). */
  network?: string;
  parseContext: ParseContext;
}

/** Where a discovered service came from, for the status endpoint. */
export interface Origin {
  name: string;
  kind: 'service' | 'container';
  /** The swarm service, or the containers that are its servers. */
  from: string[];
}

export interface DockerSyncResult {
  /** The docker-owned services, sorted by name; their servers are set for containers and host-network services. */
  entries: Entry[];
  origins: Origin[];
  skipped: Skipped[];
}

const PREFIX = 'com.df.';
const COMPOSE_SERVICE = 'com.docker.compose.service';
const STACK_NAMESPACE = 'com.docker.stack.namespace';
/** Swarm task containers are routed through their service, never one by one. */
const SWARM_TASK = 'com.docker.swarm.service.id';

/**
 * Maps what Docker runs to docker-owned registry entries: swarm services
 * (docker-flow-proxy style, routed to their VIP) and containers
 * (Interlock style, one server per running, healthy container). Anything
 * with bad labels is skipped with its reason and never affects the rest.
 */
export function dockerSync(state: DockerState, options: DockerSyncOptions): DockerSyncResult {
  const skipped: Skipped[] = [];
  const entries = new Map<string, Entry>();
  const origins = new Map<string, Origin>();
  const claimed = new Map<string, string>();
  const notified = (labels: Readonly<Record<string, string>>) => labels[options.notifyLabel] === 'true';

  for (const service of [...state.services].filter((s) => notified(s.labels)).sort(byName)) {
    const result = serviceEntry(service, options.parseContext);
    if (!result.ok) {
      skipped.push({ name: service.name, kind: 'service', reason: result.reason });
      continue;
    }
    if (!result.entry) continue;
    const owner = claimed.get(result.entry.name);
    if (owner !== undefined) {
      skipped.push({ name: service.name, kind: 'service', reason: `service name "${result.entry.name}" is already used by ${owner}` });
      continue;
    }
    claimed.set(result.entry.name, `swarm service "${service.name}"`);
    entries.set(result.entry.name, result.entry);
    origins.set(result.entry.name, { name: result.entry.name, kind: 'service', from: [service.name] });
  }

  const groups = new Map<string, Array<{ container: DockerContainer; entry: Entry }>>();
  const containers = state.containers.filter((c) => notified(c.labels) && c.labels[SWARM_TASK] === undefined && c.state === 'running');
  for (const container of [...containers].sort(byAge)) {
    const name = containerServiceName(container);
    const parsed = toEntry(withDefaults(fromLabels(container.labels, PREFIX), { servicename: name }), options.parseContext, 'docker');
    if (!parsed.ok) {
      skipped.push({ name: container.name, kind: 'container', reason: `bad labels: ${describeIssues(parsed.issues)}` });
      continue;
    }
    const group = groups.get(parsed.entry.name) ?? [];
    group.push({ container, entry: parsed.entry });
    groups.set(parsed.entry.name, group);
  }

  for (const [name, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const owner = claimed.get(name);
    if (owner !== undefined) {
      for (const { container } of group) skipped.push({ name: container.name, kind: 'container', reason: `service name "${name}" is already used by ${owner}` });
      continue;
    }
    // The newest container defines the service: during a rolling update the new labels win.
    const newest = group[group.length - 1] as { container: DockerContainer; entry: Entry };
    const key = definitionKey(newest.entry);
    const servicePort = singlePort(newest.entry.spec);
    const servers: ServerAddr[] = [];
    const from: string[] = [];
    for (const { container, entry } of group) {
      if (definitionKey(entry) !== key) {
        skipped.push({ name: container.name, kind: 'container', reason: `its labels differ from those of "${newest.container.name}", the newest container of service "${name}"` });
        continue;
      }
      if (container.health === 'starting' || container.health === 'unhealthy') {
        skipped.push({ name: container.name, kind: 'container', reason: container.health === 'starting' ? 'its health check has not passed yet' : 'it is unhealthy' });
        continue;
      }
      const own = singlePort(entry.spec);
      const address = containerAddress(container, own, container.labels[`${PREFIX}network`] ?? options.network);
      if ('reason' in address) skipped.push({ name: container.name, kind: 'container', reason: address.reason });
      else {
        servers.push(address.port === undefined && own !== servicePort ? { ...address, port: own as number } : address);
        from.push(container.name);
      }
    }
    // No server means no entry: an empty server list would fall back to the service name as host.
    if (servers.length === 0) continue;
    claimed.set(name, `container "${newest.container.name}"`);
    entries.set(name, { ...newest.entry, spec: { ...newest.entry.spec, servers } });
    origins.set(name, { name, kind: 'container', from });
  }

  const sorted = [...entries.keys()].sort();
  return { entries: sorted.map((n) => entries.get(n) as Entry), origins: sorted.map((n) => origins.get(n) as Origin), skipped };
}

/** A container's service when no `com.df.serviceName` label names it: its compose service, else its own name. */
export function containerServiceName(container: DockerContainer): string {
  return container.labels[COMPOSE_SERVICE] ?? container.name;
}

/**
 * The single port a service listens on, when all its destinations share
 * one. Then `port` belongs to each container (replicas on the host network
 * must listen on ports of their own), not to the service definition.
 */
function singlePort(spec: ServiceSpec): number | undefined {
  const ports = new Set(spec.destinations.map((d) => d.port));
  return ports.size === 1 ? [...ports][0] : undefined;
}

/** What containers of one service must agree on: every label, except a single port. */
function definitionKey(entry: Entry): string {
  if (singlePort(entry.spec) === undefined) return JSON.stringify(entry.params);
  return JSON.stringify(Object.entries(entry.params).filter(([k]) => !/^port(\.\d+)?$/.test(k)));
}

/**
 * Where the proxy reaches a container that listens on `port` (undefined when
 * its destinations use several): its IP on the shared network, else
 * 127.0.0.1 for `--network host`, else a published port, else its first
 * network IP.
 */
export function containerAddress(container: DockerContainer, port: number | undefined, network: string | undefined): ServerAddr | { reason: string } {
  const id = container.id;
  if (network !== undefined) {
    // Compose and stacks prefix network names with the project: `edge` is also `<project>_edge`.
    const shared = container.networks.find((n) => n.name === network && n.ip !== '') ?? container.networks.find((n) => n.name.endsWith(`_${network}`) && n.ip !== '');
    if (shared) return { host: shared.ip, id };
  }
  if (container.networkMode === 'host') return { host: '127.0.0.1', id };
  if (port !== undefined) {
    const published = container.ports
      .filter((p) => p.type === 'tcp' && p.privatePort === port && p.publicPort !== undefined)
      .sort((a, b) => (isIpv6(a.ip) ? 1 : 0) - (isIpv6(b.ip) ? 1 : 0))[0];
    if (published) {
      const ip = published.ip === undefined || published.ip === '' || published.ip === '0.0.0.0' || published.ip === '::' ? '127.0.0.1' : published.ip;
      return { host: ip, port: published.publicPort as number, id };
    }
  }
  const first = [...container.networks].sort(byName).find((n) => n.ip !== '');
  if (first) return { host: first.ip, id };
  const where = network !== undefined ? ` on network "${network}"` : '';
  return { reason: `it has no address the proxy can reach${where} (network mode "${container.networkMode}", no published port, no network IP)` };
}

function serviceEntry(service: DockerSwarmService, ctx: ParseContext): { ok: true; entry?: Entry } | { ok: false; reason: string } {
  // replicas=0 removes the service, as docker-flow-swarm-listener's notification does.
  if (service.mode === 'replicated' && service.replicas === 0) return { ok: true };
  const raw = fromLabels(service.labels, PREFIX);
  const stack = service.labels[STACK_NAMESPACE];
  const short = raw.params.get('shortname') === 'true' && stack !== undefined && service.name.startsWith(`${stack}_`);
  const name = short ? service.name.slice(stack.length + 1) : service.name;
  const defaults: Record<string, string> = { servicename: name };
  if (service.replicas !== undefined) defaults.replicas = String(service.replicas);
  const labelled = raw.params.get('servicename');
  // The VIP is the swarm service's own name, whatever name the route is published under.
  if ((labelled !== undefined && labelled !== service.name) || short) defaults.outboundhostname = service.name;
  const explicitHost = [...raw.params.keys()].some((k) => k === 'outboundhostname' || k.startsWith('outboundhostname.'));
  const onHost = service.hostNetwork && !raw.params.has('discoverytype') && !explicitHost;
  // A VIP name is resolved by HAProxy at run time (Docker's DNS): a name that does not resolve yet when the config
  // loads (the service was just created) comes up on its own instead of staying down until the next reload.
  if (!onHost && !raw.params.has('checkresolvers')) defaults.checkresolvers = 'true';
  const parsed = toEntry(withDefaults(raw, defaults), ctx, 'docker');
  if (!parsed.ok) return { ok: false, reason: `bad labels: ${describeIssues(parsed.issues)}` };
  const { entry } = parsed;
  if (onHost && entry.spec.discoveryType === undefined) {
    return { ok: true, entry: { ...entry, spec: { ...entry.spec, servers: [{ host: '127.0.0.1', id: service.id }] } } };
  }
  return { ok: true, entry };
}

/** Adds parameters the labels did not give. */
function withDefaults(raw: RawResult, defaults: Readonly<Record<string, string>>): RawResult {
  const params = new Map(raw.params);
  for (const [key, value] of Object.entries(defaults)) if (!params.has(key)) params.set(key, value);
  return { params, issues: raw.issues };
}

function isIpv6(ip: string | undefined): boolean {
  return ip !== undefined && ip.includes(':');
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Oldest first, so that the newest container of a group comes last. */
function byAge(a: DockerContainer, b: DockerContainer): number {
  return a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
