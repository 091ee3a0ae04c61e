import { dockerSync } from './labels.js';
import type { SwarmRouting } from './swarmTasks.js';
import type { CommandResult } from '../../core/ports.js';
import type { Log } from '../../core/log.js';
import type { ParseContext } from '../../domain/parse.js';
import type { Entry } from '../../domain/registry.js';
import { FlowError } from '../../domain/errors.js';
import { DockerDiscovery, type DiscoveryDeps, type DiscoveryTiming } from './discovery.js';
import type { EngineSpec } from './dockerHosts.js';
import { engineClient } from './engineClient.js';
import { EngineSet } from './engines.js';

export interface DockerDiscoveryOptions {
  /** Shown in the status: DOCKER_HOST, or DOCKER_HOSTS. */
  dockerHost: string;
  /** The engines to follow (DOCKER_HOSTS, else the one of DOCKER_HOST). */
  engines: EngineSpec[];
  /** Several engines (DOCKER_HOSTS): server identities are `<engine>/<container id>`. */
  multiple: boolean;
  /** DOCKER_HOSTS entries already skipped (settings), reported at start and in the status. */
  problems?: string[];
  notifyLabel: string;
  network?: string;
  /** SWARM_ROUTING: swarm services without a `com.df.swarmRouting` label go to their VIP or their tasks. */
  swarmRouting?: SwarmRouting;
  parseContext: ParseContext;
  log: Log;
  /** Replaces every docker-owned service (the engine's `sync` command). */
  apply: (entries: Entry[], changeIds: string[]) => Promise<CommandResult>;
  onEvent?: DiscoveryDeps['onEvent'];
  onConnect?: DiscoveryDeps['onConnect'];
  onLive?: DiscoveryDeps['onLive'];
  timing?: Partial<DiscoveryTiming>;
}

/**
 * Wires dockerode, the pure mapping and the loop together for the composition
 * root. An engine whose client cannot be made (its TLS files) is reported and
 * skipped like a bad DOCKER_HOSTS entry; none left is a start-up error.
 */
export function createDockerDiscovery(options: DockerDiscoveryOptions): DockerDiscovery {
  const log = options.log.child({ component: 'docker' });
  const problems = [...(options.problems ?? [])];
  const clients: Array<{ spec: EngineSpec; docker: ReturnType<typeof engineClient> }> = [];
  for (const spec of options.engines) {
    try {
      clients.push({ spec, docker: engineClient(spec) });
    } catch (e) {
      problems.push(`${e instanceof Error ? e.message : String(e)}; it is skipped`);
    }
  }
  for (const problem of problems) log.warn({ setting: 'DOCKER_HOSTS' }, problem);
  if (clients.length === 0) throw new FlowError('BAD_DOCKER_HOSTS', `no Docker engine to follow: ${problems.join('; ')}`);
  const timing = options.timing ?? {};
  const engines = new EngineSet(clients, {
    notifyLabel: options.notifyLabel,
    ...(options.swarmRouting && { swarmRouting: options.swarmRouting }),
    prefixIds: options.multiple,
    readMs: 10_000,
    connectMs: 10_000,
    settleMs: 1_000,
    pingMs: 5_000,
    pingTimeoutMs: 5_000,
    backoff: timing.backoff ?? { baseMs: 100, capMs: 3_000 },
    log,
  });
  if (options.multiple) log.info({ engines: clients.map((c) => `${c.spec.name}=${c.spec.url}`) }, `docker discovery: following ${clients.length} engines`);
  const mapOptions = {
    notifyLabel: options.notifyLabel,
    parseContext: options.parseContext,
    ...(options.network !== undefined && { network: options.network }),
    ...(options.swarmRouting && { swarmRouting: options.swarmRouting }),
    engines: engines.hosts(),
  };
  return new DockerDiscovery({
    source: engines,
    engines: { status: () => engines.status(), connected: () => engines.connected(), reconnects: () => engines.reconnects(), problems },
    map: (state) => dockerSync(state, mapOptions),
    apply: options.apply,
    ...(options.onEvent && { onEvent: options.onEvent }),
    ...(options.onConnect && { onConnect: options.onConnect }),
    ...(options.onLive && { onLive: options.onLive }),
    log,
    notifyLabel: options.notifyLabel,
    dockerHost: options.dockerHost,
    ...(options.timing && { timing: options.timing }),
  });
}
