// Long on purpose: docker-flow-proxy's whole endpoint table (reconfigure, remove, reload, config, certs, metrics, ...) in one router, so its contract reads in one place.
import Router from '@koa/router';
import type Koa from 'koa';
import { FlowError } from '../domain/errors.js';
import { fromEntries } from '../domain/params.js';
import type { CertStore } from '../adapters/certs/certStore.js';
import { parseServerHealth, type ServerHealth } from '../adapters/haproxy/stats.js';
import type { Metrics } from '../adapters/metrics.js';
import type { Reconciler } from '../core/reconcile/reconciler.js';
import type { ListenerSync } from '../core/sources/listenerSync.js';
import { nok, resultStatus } from './errors.js';
import { reconfigure, removeService, type ServiceAnswer, type ServiceDeps } from './serviceCalls.js';
import type { AppState } from './app.js';
import { withPeers, type Distribute } from './distribute.js';
import { redactConfig, serviceJson } from './serviceJson.js';
import { acmeCertJson } from './acmeCertJson.js';
import type { AcmeListing } from '../core/acme/acmeManager.js';

/** The listener pull's state, for /services (docker-flow-proxy's field style). */
function listenerJson(listeners: ListenerSync): Record<string, unknown> {
  const status = listeners.status();
  return {
    FirstPullsLive: status.firstPullsLive,
    WaitedOut: status.waitedOut,
    Listeners: status.listeners.map((l) => ({
      Address: l.url,
      State: l.state,
      Since: new Date(l.since).toISOString(),
      Attempts: l.attempts,
      ...(l.services !== undefined && { Services: l.services, Refused: l.refused ?? 0 }),
      ...(l.lastPull !== undefined && { LastPull: new Date(l.lastPull).toISOString() }),
      ...(l.lastError !== undefined && { LastError: l.lastError }),
    })),
  };
}

export interface DfpRouteDeps extends ServiceDeps {
  /** LISTENER_ADDRESS: the pull from docker-flow-swarm-listener and its notify-services. */
  listeners?: ListenerSync;
  engine: Reconciler;
  /** The live haproxy.cfg as HAProxy reads it. */
  liveConfigText: () => string;
  /** The live route maps (haproxy.cfg only points at them). */
  liveMaps?: () => Array<{ file: string; text: string }>;
  /** Readiness: the stored or discovered routes are live. */
  ready: () => boolean;
  certs: CertStore;
  crtListFile: string;
  metrics?: Metrics;
  /** HAProxy's `show stat` CSV (docker-flow-proxy's /metrics endpoint). */
  haproxyStats: () => Promise<string>;
  /** Fan-out for distribute=true; absent when replicas share a store (Consul) and need none. */
  distribute?: Distribute;
  /** ACME's names and certificates for /certs, when ACME is on. */
  acmeCerts?: () => AcmeListing[];
}

/** distribute=true asks for the fan-out (docker-flow-proxy's parameter). */
function wantsDistribute(querystring: string): boolean {
  return /^(1|t|true)$/i.test(new URLSearchParams(querystring).get('distribute') ?? '');
}

/** The write time a peer gave this change when it fanned it out to us. */
function stampOf(ctx: Koa.ParameterizedContext<AppState>): number | undefined {
  const v = ctx.get('X-Flow-Stamp');
  return /^\d{1,15}$/.test(v) ? Number(v) : undefined;
}

const MAX_CERT_BYTES = 1024 * 1024;

/** Reads a request body up to a limit; 413 beyond it. */
async function readBody(req: NodeJS.ReadableStream, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new FlowError('BODY_TOO_LARGE', `The request body exceeds the limit of ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const PREFIX = '/v1/docker-flow-proxy';

/** Query entries in order, with duplicates kept (so they can be refused) and bad percent-encoding reported. */
export function queryEntries(querystring: string): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  for (const part of querystring.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    entries.push([decode(rawKey, rawKey), decode(rawValue, rawKey)]);
  }
  return entries;
}

function decode(text: string, param: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new FlowError('BAD_ENCODING', `Parameter ${decodeSafe(param)} is not valid percent-encoding.`);
  }
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(/[^A-Za-z0-9_.%-]/g, '?');
  }
}

/** The docker-flow-proxy endpoints; like the original, they accept any method except /cert (PUT). */
export function dfpRoutes(deps: DfpRouteDeps): (app: Koa<AppState>) => void {
  const router = new Router<AppState>({ prefix: PREFIX });

  const live = (started: number, body: Record<string, unknown>) => {
    if (body.Applied) deps.metrics?.changeToLive.observe({ source: 'api' }, (performance.now() - started) / 1000);
  };

  /** The answer of a change; with distribute=true, once every peer has answered too. */
  const answer = async (ctx: Koa.ParameterizedContext<AppState>, result: ServiceAnswer) => {
    ctx.status = result.status;
    ctx.body = result.body;
    if (result.status === 200 && deps.distribute && wantsDistribute(ctx.querystring)) {
      ctx.body = withPeers(result.body, await deps.distribute(ctx, result.stamp !== undefined ? { stamp: result.stamp } : {}));
    }
  };

  router.all('/reconfigure', async (ctx) => {
    const started = performance.now();
    const raw = fromEntries(queryEntries(ctx.querystring));
    const result = await reconfigure(raw, deps, ctx.state.changeId, 'api', stampOf(ctx));
    live(started, result.body);
    ctx.state.log.info({ service: result.body.ServiceName, status: result.status, message: result.body.Message }, 'reconfigure');
    if (result.body.Warnings) ctx.state.log.warn({ service: result.body.ServiceName, warnings: result.body.Warnings }, 'reconfigure accepted with warnings');
    await answer(ctx, result);
  });

  router.all('/remove', async (ctx) => {
    const raw = fromEntries(queryEntries(ctx.querystring));
    if (raw.issues.length > 0) throw new FlowError('BAD_QUERY', raw.issues.map((i) => i.message).join(' '));
    const started = performance.now();
    const result = await removeService(raw.params.get('servicename'), deps, ctx.state.changeId, stampOf(ctx));
    live(started, result.body);
    ctx.state.log.info({ service: result.body.ServiceName, status: result.status }, 'remove');
    await answer(ctx, result);
  });

  router.all('/reload', async (ctx) => {
    const raw = fromEntries(queryEntries(ctx.querystring));
    const recreate = /^(1|t|true)$/i.test(raw.params.get('recreate') ?? '');
    const fromListener = /^(1|t|true)$/i.test(raw.params.get('fromlistener') ?? '');
    if (fromListener && !deps.listeners) {
      throw new FlowError('NO_LISTENER', 'fromListener=true needs LISTENER_ADDRESS: no listener is configured, so none can be asked to send its services. Nothing was reloaded.');
    }
    const result = await deps.engine.submit({ kind: 'reload', recreate }, ctx.state.changeId);
    ctx.status = resultStatus(result);
    ctx.body = result.ok ? { Status: 'OK', Message: '', Applied: result.apply && { Kind: result.apply.kind, Reason: result.apply.reason } } : nok(result.message, '');
    if (result.ok && fromListener && deps.listeners) {
      // docker-flow-proxy asked every listener to send all its services again; a listener that cannot be reached is a 500.
      const notified = await deps.listeners.notifyAll();
      const failed = notified.filter((n) => !n.ok);
      ctx.status = failed.length > 0 ? 500 : 200;
      ctx.body = {
        ...(failed.length > 0 ? nok(`HAProxy was reloaded, but ${failed.map((f) => f.message).join('; ')}`, '') : ctx.body as Record<string, unknown>),
        Listeners: notified.map((n) => ({ Address: n.url, Status: n.ok ? 'OK' : 'NOK', Message: n.message })),
      };
      ctx.state.log.info({ listeners: notified }, 'asked the listeners to send every service again');
    }
    if (result.ok && deps.distribute && wantsDistribute(ctx.querystring)) ctx.body = withPeers(ctx.body as Record<string, unknown>, await deps.distribute(ctx, {}));
  });

  /** Each service's servers with their health from HAProxy (`show stat`); "unknown" when HAProxy cannot be asked. */
  const serverHealth = async (): Promise<(name: string) => Array<Record<string, string>>> => {
    const health = await deps.haproxyStats().then(parseServerHealth, () => new Map<string, ServerHealth>());
    const servers = deps.engine.liveServers();
    return (name) => (servers.get(name) ?? []).map((s) => {
      const h = health.get(`${s.backend}/${s.server}`);
      return { Backend: s.backend, Server: s.server, Address: s.address, Health: h?.status ?? 'unknown', Check: h?.check ?? '' };
    });
  };

  router.all('/config', async (ctx) => {
    const type = new URLSearchParams(ctx.querystring).get('type');
    if (type === 'json') {
      const quarantined = new Map(deps.engine.quarantined.map((q) => [q.name, q.reason]));
      const health = await serverHealth();
      const body: Record<string, unknown> = {};
      for (const entry of [...deps.engine.registry.entries.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const reason = quarantined.get(entry.name);
        body[entry.name] = { ...serviceJson(entry, reason === undefined ? { state: 'live' } : { state: 'quarantined', reason }), ServerHealth: health(entry.name) };
      }
      ctx.type = 'application/json';
      ctx.body = body;
      return;
    }
    ctx.type = 'text/html';
    // Routes live in map files; they are shown after the config, as comments, unless maps=false.
    const maps = new URLSearchParams(ctx.querystring).get('maps') === 'false' ? [] : deps.liveMaps?.() ?? [];
    const routes = maps.map((m) => `# ${m.file}\n${m.text.split('\n').filter((l) => l !== '').map((l) => `#   ${l}`).join('\n')}`).join('\n');
    ctx.body = `${redactConfig(deps.liveConfigText())}${maps.length > 0 ? `\n# ---- routes (map files: key -> backend) ----\n${routes}\n` : ''}`;
  });

  router.all('/services', async (ctx) => {
    const quarantined = deps.engine.quarantined;
    const registry = deps.engine.registry;
    const health = await serverHealth();
    const shadowed = deps.engine.shadowedServices();
    ctx.body = {
      Services: [...registry.entries.values()].map((e) => {
        const q = quarantined.find((x) => x.name === e.name);
        const lost = shadowed.get(e.name);
        return {
          ServiceName: e.name,
          Owner: e.owner,
          State: q ? 'quarantined' : lost ? 'shadowed' : 'live',
          ...(q && { Reason: q.reason }),
          ...(lost && { Shadowed: lost.map((x) => ({ Route: x.route, By: x.by })) }),
          ...(e.warnings && { Warnings: e.warnings }),
          Servers: health(e.name),
        };
      }),
      Quarantined: quarantined.map((q) => ({ ServiceName: q.name, Owner: q.owner, Reason: q.reason })),
      ...(deps.listeners && { Listener: listenerJson(deps.listeners) }),
      Applies: deps.engine.recentApplies.slice(-50).map((a) => ({ Id: a.id, Kind: a.kind, Reason: a.reason, DurationMs: Math.round(a.durationMs * 100) / 100, ChangeIds: a.changeIds })),
    };
  });

  router.put('/cert', async (ctx) => {
    const certName = new URLSearchParams(ctx.querystring).get('certName');
    if (!certName) throw new FlowError('NO_CERT_NAME', 'The certName query is mandatory.');
    const body = await readBody(ctx.req, MAX_CERT_BYTES);
    if (body.trim() === '') throw new FlowError('NO_CERT', 'The request body must hold the certificate (PEM).');
    const stored = deps.certs.put(certName, body);
    deps.certs.writeCrtList(deps.crtListFile);
    const result = await deps.engine.submit({ kind: 'refresh', reason: `certificate ${stored.name} changed` }, ctx.state.changeId);
    ctx.status = resultStatus(result);
    ctx.state.log.info({ cert: stored.name, status: ctx.status }, 'cert');
    ctx.body = result.ok ? { Status: 'OK', Message: '', CertName: stored.name } : nok(result.message, '');
    if (result.ok && deps.distribute && wantsDistribute(ctx.querystring)) ctx.body = withPeers(ctx.body as Record<string, unknown>, await deps.distribute(ctx, { body }));
  });

  router.all('/cert', (ctx) => {
    ctx.status = 405;
    ctx.set('Allow', 'PUT');
    ctx.body = { Status: 'NOK', Message: 'Use PUT to upload a certificate.' };
  });

  router.all('/certs', (ctx) => {
    ctx.body = {
      Status: 'OK',
      Message: '',
      // Names and metadata only: certificates carry private keys, which never leave the proxy.
      Certs: deps.certs.list().map((c): Record<string, unknown> => ({
        ProxyServiceName: c.name,
        CertsDir: c.source === 'dir' ? c.file.slice(0, c.file.length - c.name.length - 1) : '/run/secrets',
        Subject: c.subject,
        Names: c.names,
        Issuer: c.issuer,
        NotAfter: c.notAfter,
        Fingerprint256: c.fingerprint256,
      })).concat((deps.acmeCerts?.() ?? []).map(acmeCertJson)),
    };
  });

  // The API's root: what is here (docker-flow-proxy answered 404; a trailing slash redirects here).
  router.all('/', (ctx) => {
    ctx.body = {
      Status: 'OK',
      Message: 'flow-proxy, a docker-flow-proxy compatible API',
      Endpoints: ['reconfigure', 'remove', 'reload', 'config', 'services', 'discovery', 'cert', 'certs', 'metrics', 'ping', 'ready', 'successfulinitreload'].map((e) => `/v1/docker-flow-proxy/${e}`),
    };
  });

  router.all('/ping', (ctx) => {
    ctx.body = { Status: 'OK', Message: '' };
  });

  const readiness = (ctx: Koa.ParameterizedContext<AppState>) => {
    const ready = deps.ready();
    const listener = deps.listeners?.status();
    const waiting = listener && !listener.firstPullsLive;
    ctx.status = ready ? 200 : 503;
    ctx.body = {
      Status: ready ? 'OK' : 'NOK',
      Message: !ready
        ? waiting ? `waiting for the first pull from the listener (${listener.listeners.filter((l) => l.lastPull === undefined).map((l) => `${l.url}: ${l.lastError ?? 'not answered yet'}`).join('; ')})` : 'the stored and discovered routes are not live yet'
        : listener?.waitedOut ? `ready without the listener's services: no answer within LISTENER_WAIT (${listener.listeners.filter((l) => l.lastPull === undefined).map((l) => l.url).join(', ')}); still retrying` : '',
    };
  };
  router.all('/successfulinitreload', readiness);
  router.all('/ready', readiness);

  router.all('/metrics', async (ctx) => {
    ctx.type = 'text/plain';
    ctx.body = await deps.haproxyStats();
  });

  const root = new Router<AppState>();
  root.get('/metrics', async (ctx) => {
    if (!deps.metrics) {
      ctx.status = 404;
      return;
    }
    deps.metrics.ready.set(deps.ready() ? 1 : 0);
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.scrape();
  });
  root.get('/ping', (ctx) => {
    ctx.body = { Status: 'OK', Message: '' };
  });
  root.get('/ready', readiness);

  return (app) => {
    app.use(router.routes());
    app.use(router.allowedMethods());
    app.use(root.routes());
  };
}
