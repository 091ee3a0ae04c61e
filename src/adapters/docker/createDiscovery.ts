import { dockerSync } from '../../core/dockerSync.js';
import type { CommandResult } from '../../core/ports.js';
import type { Log } from '../../core/log.js';
import type { ParseContext } from '../../domain/parse.js';
import type { Entry } from '../../domain/registry.js';
import { dockerClient } from './connection.js';
import { DockerDiscovery, type DiscoveryDeps, type DiscoveryTiming } from './discovery.js';
import { dockerSource } from './source.js';

export interface DockerDiscoveryOptions {
  dockerHost: string;
  notifyLabel: string;
  network?: string;
  parseContext: ParseContext;
  log: Log;
  /** Replaces every docker-owned service (the engine's `sync` command). */
  apply: (entries: Entry[], changeIds: string[]) => Promise<CommandResult>;
  onEvent?: DiscoveryDeps['onEvent'];
  onConnect?: DiscoveryDeps['onConnect'];
  onLive?: DiscoveryDeps['onLive'];
  timing?: Partial<DiscoveryTiming>;
}

/** Wires dockerode, the pure mapping and the loop together for the composition root. */
export function createDockerDiscovery(options: DockerDiscoveryOptions): DockerDiscovery {
  const docker = dockerClient(options.dockerHost);
  const mapOptions = {
    notifyLabel: options.notifyLabel,
    parseContext: options.parseContext,
    ...(options.network !== undefined && { network: options.network }),
  };
  return new DockerDiscovery({
    source: dockerSource(docker, options.notifyLabel, { readMs: 10_000, connectMs: 10_000 }),
    map: (state) => dockerSync(state, mapOptions),
    apply: options.apply,
    ...(options.onEvent && { onEvent: options.onEvent }),
    ...(options.onConnect && { onConnect: options.onConnect }),
    ...(options.onLive && { onLive: options.onLive }),
    log: options.log.child({ component: 'docker' }),
    notifyLabel: options.notifyLabel,
    dockerHost: options.dockerHost,
    ...(options.timing && { timing: options.timing }),
  });
}
