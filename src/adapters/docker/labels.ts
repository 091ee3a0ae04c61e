import { describeIssues } from '../../domain/errors.js';
import { fromLabels, type RawResult } from '../../domain/params.js';
import type { ParseContext } from '../../domain/parse.js';
import type { Entry } from '../../domain/registry.js';
import type { ServerAddr, ServiceSpec } from '../../domain/spec.js';
import { toEntry } from '../../domain/entry.js';
import { withFields } from '../../domain/withFields.js';
import { labelValue, OWN_HOST, routesToTasks, SWARM_ROUTING_LABEL, taskServers, type DockerTask, type SwarmRouting, type TaskServer } from './swarmTasks.js';
import { chooseAddress, LOCAL_ENGINE, type AddressChoice, type EngineHost, type SharedNetwork } from './containerAddress.js';

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
  /** The engine it runs on (DOCKER_HOSTS); unset: the proxy's own engine. */
  engine?: string;
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
  /** Its tasks that should run, when it is routed to its tasks (`swarmRouting=tasks`); unset: routed to its VIP. */
  tasks?: readonly DockerTask[];
  /** The engine it was listed by (DOCKER_HOSTS); unset: the proxy's own engine. */
  engine?: string;
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
  /** The engine it runs on, when discovery follows several. */
  engine?: string;
}

export interface DockerSyncOptions {
  /** DF_NOTIFY_LABEL: only what carries `<label>=true` counts. */
  notifyLabel: string;
  /** DOCKER_NETWORK: the network the proxy shares with containers (overridden by `com.df.network`). */
  network?: string;
  parseContext: ParseContext;
  /** The engines containers and services name (their `engine`), for the address rules; unnamed or unknown: the proxy's own. */
  engines?: Readonly<Record<string, EngineHost>>;
  /** SWARM_ROUTING: swarm services without a `com.df.swarmRouting` label go to their VIP (the default) or their tasks. */
  swarmRouting?: SwarmRouting;
}

/** Where a discovered service came from, for the status endpoint. */
export interface Origin {
  name: string;
  kind: 'service' | 'container';
  /** The swarm service, or the containers that are its servers. */
  from: string[];
  /** For containers: each server's container, engine, address and the rule that chose it, in server order. */
  addresses?: Array<AddressChoice & { container: string; engine?: string }>;
  /** For a swarm service routed to its tasks: the tasks that are its servers, in server order. */
  tasks?: TaskServer[];
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
  const engineOf = (name: string | undefined): EngineHost => (name !== undefined ? options.engines?.[name] : undefined) ?? LOCAL_ENGINE;
  const skip = (name: string, kind: Skipped['kind'], reason: string, engine: string | undefined) => skipped.push({ name, kind, reason, ...(engine !== undefined && { engine }) });

  for (const service of [...state.services].filter((s) => notified(s.labels)).sort(byName)) {
    const result = serviceEntry(service, options, engineOf(service.engine).address);
    if (!result.ok) {
      skip(service.name, 'service', result.reason, service.engine);
      continue;
    }
    if (!result.entry) continue;
    const owner = claimed.get(result.entry.name);
    if (owner !== undefined) {
      skip(service.name, 'service', `service name "${result.entry.name}" is already used by ${owner}`, service.engine);
      continue;
    }
    claimed.set(result.entry.name, `swarm service "${service.name}"`);
    entries.set(result.entry.name, result.entry);
    origins.set(result.entry.name, { name: result.entry.name, kind: 'service', from: [service.name], ...(result.tasks && { tasks: result.tasks }) });
    // Tasks it could not route are reported; the others serve.
    for (const problem of result.problems ?? []) skip(service.name, 'service', `${problem}; its other tasks are routed`, service.engine);
  }

  const groups = new Map<string, Array<{ container: DockerContainer; entry: Entry }>>();
  const containers = state.containers.filter((c) => notified(c.labels) && c.labels[SWARM_TASK] === undefined && c.state === 'running');
  for (const container of [...containers].sort(byAge)) {
    const name = containerServiceName(container);
    const parsed = toEntry(withDefaults(fromLabels(container.labels, PREFIX), { servicename: name }), options.parseContext, 'docker');
    if (!parsed.ok) {
      skip(container.name, 'container', `bad labels: ${describeIssues(parsed.issues)}`, container.engine);
      continue;
    }
    const group = groups.get(parsed.entry.name) ?? [];
    group.push({ container, entry: parsed.entry });
    groups.set(parsed.entry.name, group);
  }

  for (const [name, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const owner = claimed.get(name);
    if (owner !== undefined) {
      for (const { container } of group) skip(container.name, 'container', `service name "${name}" is already used by ${owner}`, container.engine);
      continue;
    }
    // The newest container defines the service: during a rolling update the new labels win.
    const newest = group[group.length - 1] as { container: DockerContainer; entry: Entry };
    const key = definitionKey(newest.entry);
    const servicePort = singlePort(newest.entry.spec);
    const servers: ServerAddr[] = [];
    const from: string[] = [];
    const addresses: NonNullable<Origin['addresses']> = [];
    for (const { container, entry } of group) {
      if (definitionKey(entry) !== key) {
        skip(container.name, 'container', `its labels differ from those of "${newest.container.name}", the newest container of service "${name}"`, container.engine);
        continue;
      }
      if (container.health === 'starting' || container.health === 'unhealthy') {
        skip(container.name, 'container', container.health === 'starting' ? 'its health check has not passed yet' : 'it is unhealthy', container.engine);
        continue;
      }
      const own = singlePort(entry.spec);
      const engine = engineOf(container.engine);
      const choice = chooseAddress(container, own, sharedNetwork(container, engine, options.network), engine);
      if ('reason' in choice) skip(container.name, 'container', choice.reason, container.engine);
      else {
        const address = choice.server;
        const server = address.port === undefined && own !== servicePort ? { ...address, port: own as number } : address;
        servers.push(server);
        from.push(container.name);
        addresses.push({ ...choice, server, container: container.name, ...(container.engine !== undefined && { engine: container.engine }) });
      }
    }
    // No server means no entry: an empty server list would fall back to the service name as host.
    if (servers.length === 0) continue;
    claimed.set(name, `container "${newest.container.name}"`);
    entries.set(name, { ...newest.entry, spec: withFields(newest.entry.spec, { servers }) });
    origins.set(name, { name, kind: 'container', from, addresses });
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
 * Where the proxy reaches a container of the proxy's own engine that listens
 * on `port` (see chooseAddress for the rules and other engines).
 */
export function containerAddress(container: DockerContainer, port: number | undefined, network: string | undefined): ServerAddr | { reason: string } {
  const choice = chooseAddress(container, port, network === undefined ? undefined : { name: network, from: 'DOCKER_NETWORK' });
  return 'reason' in choice ? choice : choice.server;
}

/** The network whose IP is used: the container's `com.df.network`, else its engine's `network=`, else DOCKER_NETWORK. */
function sharedNetwork(container: DockerContainer, engine: EngineHost, network: string | undefined): SharedNetwork | undefined {
  const label = container.labels[`${PREFIX}network`];
  if (label !== undefined) return { name: label, from: 'com.df.network' };
  if (engine.network !== undefined) return { name: engine.network, from: 'network= of the engine' };
  return network !== undefined ? { name: network, from: 'DOCKER_NETWORK' } : undefined;
}

type ServiceResult = { ok: true; entry?: Entry; tasks?: TaskServer[]; problems?: string[] } | { ok: false; reason: string };

function serviceEntry(service: DockerSwarmService, options: DockerSyncOptions, hostAddress: string): ServiceResult {
  // replicas=0 removes the service, as docker-flow-swarm-listener's notification does.
  if (service.mode === 'replicated' && service.replicas === 0) return { ok: true };
  const raw = fromLabels(service.labels, PREFIX);
  const routing = labelValue(service.labels, SWARM_ROUTING_LABEL)?.toLowerCase();
  if (routing !== undefined && routing !== 'vip' && routing !== 'tasks') return { ok: false, reason: `bad labels: ${SWARM_ROUTING_LABEL} "${labelValue(service.labels, SWARM_ROUTING_LABEL)?.slice(0, 60)}" must be vip or tasks` };
  const stack = service.labels[STACK_NAMESPACE];
  const short = raw.params.get('shortname') === 'true' && stack !== undefined && service.name.startsWith(`${stack}_`);
  const name = short ? service.name.slice(stack.length + 1) : service.name;
  const defaults: Record<string, string> = { servicename: name };
  if (service.replicas !== undefined) defaults.replicas = String(service.replicas);
  const labelled = raw.params.get('servicename');
  const ownHost = Object.keys(service.labels).some((k) => OWN_HOST.test(k));
  const onHost = service.hostNetwork && !ownHost;
  const toTasks = routesToTasks(service, options.swarmRouting ?? 'vip');
  if (toTasks && ownHost) return { ok: false, reason: `bad labels: ${SWARM_ROUTING_LABEL}=tasks routes to the tasks' own addresses; it cannot be combined with outboundHostname or discoveryType` };
  // The VIP is the swarm service's own name, whatever name the route is published under.
  if (!toTasks && ((labelled !== undefined && labelled !== service.name) || short)) defaults.outboundhostname = service.name;
  // A VIP name is resolved by HAProxy at run time (Docker's DNS): a name that does not resolve yet when the config
  // loads (the service was just created) comes up on its own instead of staying down until the next reload.
  if (!onHost && !toTasks && !raw.params.has('checkresolvers')) defaults.checkresolvers = 'true';
  const parsed = toEntry(withDefaults(raw, defaults), options.parseContext, 'docker');
  if (!parsed.ok) return { ok: false, reason: `bad labels: ${describeIssues(parsed.issues)}` };
  const { entry } = parsed;
  if (onHost && entry.spec.discoveryType === undefined) {
    return { ok: true, entry: { ...entry, spec: withFields(entry.spec, { servers: [{ host: hostAddress, id: service.id }] }) } };
  }
  if (!toTasks) return { ok: true, entry };
  const chosen = taskServers(service.tasks ?? [], labelValue(service.labels, `${PREFIX}network`), options.network);
  // No task to route: no entry, as for a service of containers (an empty server list would fall back to the VIP name).
  if (chosen.tasks.length === 0) return { ok: false, reason: chosen.problems.length > 0 ? chosen.problems.join('; ') : 'none of its tasks is running' };
  // The task id keeps each server's slot steady.
  const servers = chosen.tasks.map((t): ServerAddr => ({ host: t.ip, id: t.task }));
  return { ok: true, entry: { ...entry, spec: withFields(entry.spec, { servers }) }, tasks: chosen.tasks, problems: chosen.problems };
}

/** Adds parameters the labels did not give. */
function withDefaults(raw: RawResult, defaults: Readonly<Record<string, string>>): RawResult {
  const params = new Map(raw.params);
  for (const [key, value] of Object.entries(defaults)) if (!params.has(key)) params.set(key, value);
  return { params, issues: raw.issues };
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Oldest first, so that the newest container of a group comes last. */
function byAge(a: DockerContainer, b: DockerContainer): number {
  return a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
