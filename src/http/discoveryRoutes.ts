import Router from '@koa/router';
import type Koa from 'koa';
import type { DiscoveryStatus } from '../adapters/docker/discoveryStatus.js';
import type { EngineStatus } from '../adapters/docker/engineStates.js';
import type { Reconciler } from '../core/reconcile/reconciler.js';
import type { AppState } from './app.js';

export interface DiscoveryRouteDeps {
  /** Undefined when DISCOVERY=none. */
  status: () => DiscoveryStatus | undefined;
  engine: Pick<Reconciler, 'registry' | 'quarantined'>;
}

/**
 * `/v1/docker-flow-proxy/discovery`: whether Docker discovery is on and
 * connected, what it routes (and in what state), and what it skipped and why.
 */
export function discoveryRoutes(deps: DiscoveryRouteDeps): (app: Koa<AppState>) => void {
  const router = new Router<AppState>({ prefix: '/v1/docker-flow-proxy' });
  router.all('/discovery', (ctx) => {
    const status = deps.status();
    if (!status) {
      ctx.body = { Status: 'OK', Discovery: 'none', Services: [], Skipped: [] };
      return;
    }
    const quarantined = new Map(deps.engine.quarantined.map((q) => [q.name, q.reason]));
    const engineState = new Map((status.engines ?? []).map((e) => [e.name, e.state]));
    ctx.body = {
      Status: 'OK',
      Discovery: 'docker',
      DockerHost: status.dockerHost,
      NotifyLabel: status.notifyLabel,
      Connected: status.connected,
      Reconnects: status.reconnects,
      Events: status.events,
      Syncs: status.syncs,
      ...(status.lastSync && {
        LastSync: { At: status.lastSync.at, DurationMs: status.lastSync.durationMs, Services: status.lastSync.services, Servers: status.lastSync.servers, Applied: status.lastSync.applied },
      }),
      ...(status.lastError !== undefined && { LastError: status.lastError }),
      ...(status.engines && { Engines: status.engines.map(engineJson) }),
      ...(status.badEngines && { BadEngines: status.badEngines }),
      Services: status.services.map((s) => {
        const entry = deps.engine.registry.entries.get(s.name);
        const reason = quarantined.get(s.name);
        // An API service of the same name wins over a discovered one.
        const state = !entry ? 'pending' : entry.owner !== 'docker' ? 'shadowed' : reason !== undefined ? 'quarantined' : 'live';
        return {
          ServiceName: s.name,
          Kind: s.kind,
          From: s.from,
          Servers: s.servers.map((x) => {
            const chosen = s.addresses?.find((a) => a.server.id === x.id);
            const task = s.tasks?.find((k) => k.task === x.id);
            return {
              Host: x.host,
              Port: x.port ?? null,
              Id: x.id ?? null,
              ...(chosen && {
                Container: chosen.container,
                ...(chosen.engine !== undefined && { Engine: chosen.engine, EngineState: engineState.get(chosen.engine) ?? 'unknown' }),
                Rule: chosen.rule,
                Why: chosen.why,
              }),
              ...(task && { Task: task.task, Rule: 'swarm-task', Why: `the task's address on network "${task.network}"` }),
            };
          }),
          ...(s.kind === 'service' && { Routing: s.tasks !== undefined ? 'tasks' : s.servers.length > 0 ? 'host-network' : entry?.spec.discoveryType !== undefined ? 'dns' : 'vip' }),
          State: state,
          ...(state === 'shadowed' && entry && { Reason: `a service of the same name from ${entry.owner} wins` }),
          ...(state === 'quarantined' && { Reason: reason }),
        };
      }),
      Skipped: status.skipped.map((s) => ({ Name: s.name, Kind: s.kind, ...(s.engine !== undefined && { Engine: s.engine }), Reason: s.reason })),
    };
  });
  return (app) => {
    app.use(router.routes());
  };
}

/** One engine as `/discovery` shows it: where it is, how it is reached, its state and since when. */
function engineJson(e: EngineStatus): Record<string, unknown> {
  return {
    Name: e.name,
    Url: e.url,
    Tls: e.tls,
    Address: e.address,
    AddressFrom: e.addressFrom,
    ...(e.network !== undefined && { Network: e.network }),
    State: e.state,
    Since: e.since,
    ...(e.lastRead !== undefined && { LastRead: e.lastRead }),
    ...(e.lastError !== undefined && { LastError: e.lastError }),
    Containers: e.containers,
    Services: e.services,
    Reconnects: e.reconnects,
  };
}
