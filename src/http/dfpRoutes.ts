import Router from '@koa/router';
import type Koa from 'koa';
import { FlowError } from '../domain/errors.js';
import { fromEntries } from '../domain/params.js';
import type { CertStore } from '../adapters/certs/certStore.js';
import type { Metrics } from '../adapters/metrics.js';
import type { Engine } from '../core/engine.js';
import { nok, reconfigure, removeService, type ServiceDeps } from '../core/services.js';
import type { AppState } from './app.js';
import { withPeers, type Distribute } from './distribute.js';
import { redactConfig, serviceJson } from './serviceJson.js';
import { acmeCertJson } from './acmeCertJson.js';
import type { AcmeListing } from '../core/acmeManager.js';

export interface DfpRouteDeps extends ServiceDeps {
  engine: Engine;
  /** The live haproxy.cfg as HAProxy reads it. */
  liveConfigText: () => string;
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
    if (size > limit) throw new FlowError('BODY_TOO_LARGE', `The request body exceeds the limit of ${limit} bytes.`, 413);
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
    throw new FlowError('BAD_ENCODING', `Parameter ${decodeSafe(param)} is not valid percent-encoding.`, 400);
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

  router.all('/reconfigure', async (ctx) => {
    const started = performance.now();
    const raw = fromEntries(queryEntries(ctx.querystring));
    const result = await reconfigure(raw, deps, ctx.state.changeId, 'api', stampOf(ctx));
    live(started, result.body);
    ctx.state.log.info({ service: result.body.ServiceName, status: result.status, message: result.body.Message }, 'reconfigure');
    ctx.status = result.status;
    ctx.body = result.body;
    if (result.status === 200 && deps.distribute && wantsDistribute(ctx.querystring)) {
      ctx.body = withPeers(result.body, await deps.distribute(ctx, result.stamp !== undefined ? { stamp: result.stamp } : {}));
    }
  });

  router.all('/remove', async (ctx) => {
    const raw = fromEntries(queryEntries(ctx.querystring));
    if (raw.issues.length > 0) throw new FlowError('BAD_QUERY', raw.issues.map((i) => i.message).join(' '), 400);
    const started = performance.now();
    const result = await removeService(raw.params.get('servicename'), deps, ctx.state.changeId, stampOf(ctx));
    live(started, result.body);
    ctx.state.log.info({ service: result.body.ServiceName, status: result.status }, 'remove');
    ctx.status = result.status;
    ctx.body = result.body;
    if (result.status === 200 && deps.distribute && wantsDistribute(ctx.querystring)) {
      ctx.body = withPeers(result.body, await deps.distribute(ctx, result.stamp !== undefined ? { stamp: result.stamp } : {}));
    }
  });

  router.all('/reload', async (ctx) => {
    const raw = fromEntries(queryEntries(ctx.querystring));
    const recreate = /^(1|t|true)$/i.test(raw.params.get('recreate') ?? '');
    const result = await deps.engine.submit({ kind: 'reload', recreate }, ctx.state.changeId);
    ctx.status = result.status;
    ctx.body = result.ok ? { Status: 'OK', Message: '', Applied: result.apply && { Kind: result.apply.kind, Reason: result.apply.reason } } : nok(result.message, '');
    if (result.ok && deps.distribute && wantsDistribute(ctx.querystring)) ctx.body = withPeers(ctx.body as Record<string, unknown>, await deps.distribute(ctx, {}));
  });

  router.all('/config', (ctx) => {
    const type = new URLSearchParams(ctx.querystring).get('type');
    if (type === 'json') {
      const quarantined = new Map(deps.engine.quarantined.map((q) => [q.name, q.reason]));
      const body: Record<string, unknown> = {};
      for (const entry of [...deps.engine.registry.entries.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const reason = quarantined.get(entry.name);
        body[entry.name] = serviceJson(entry, reason === undefined ? { state: 'live' } : { state: 'quarantined', reason });
      }
      ctx.type = 'application/json';
      ctx.body = body;
      return;
    }
    ctx.type = 'text/html';
    ctx.body = redactConfig(deps.liveConfigText());
  });

  router.all('/services', (ctx) => {
    const quarantined = deps.engine.quarantined;
    const registry = deps.engine.registry;
    ctx.body = {
      Services: [...registry.entries.values()].map((e) => {
        const q = quarantined.find((x) => x.name === e.name);
        return { ServiceName: e.name, Owner: e.owner, State: q ? 'quarantined' : 'live', ...(q && { Reason: q.reason }) };
      }),
      Quarantined: quarantined.map((q) => ({ ServiceName: q.name, Owner: q.owner, Reason: q.reason })),
      Applies: deps.engine.recentApplies.slice(-50).map((a) => ({ Id: a.id, Kind: a.kind, Reason: a.reason, DurationMs: Math.round(a.durationMs * 100) / 100, ChangeIds: a.changeIds })),
    };
  });

  router.put('/cert', async (ctx) => {
    const certName = new URLSearchParams(ctx.querystring).get('certName');
    if (!certName) throw new FlowError('NO_CERT_NAME', 'The certName query is mandatory.', 400);
    const body = await readBody(ctx.req, MAX_CERT_BYTES);
    if (body.trim() === '') throw new FlowError('NO_CERT', 'The request body must hold the certificate (PEM).', 400);
    const stored = deps.certs.put(certName, body);
    deps.certs.writeCrtList(deps.crtListFile);
    const result = await deps.engine.submit({ kind: 'refresh', reason: `certificate ${stored.name} changed` }, ctx.state.changeId);
    ctx.state.log.info({ cert: stored.name, status: result.status }, 'cert');
    ctx.status = result.status;
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

  router.all('/ping', (ctx) => {
    ctx.body = { Status: 'OK', Message: '' };
  });

  const readiness = (ctx: Koa.ParameterizedContext<AppState>) => {
    const ready = deps.ready();
    ctx.status = ready ? 200 : 503;
    ctx.body = { Status: ready ? 'OK' : 'NOK', Message: ready ? '' : 'the stored and discovered routes are not live yet' };
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
    ctx.body = await deps.metrics.registry.metrics();
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
